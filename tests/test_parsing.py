import json

import numpy as np
import pytest
import torch
from PIL import Image

from clothlib.data import CLASSES, read_class_mask
from clothlib.data import read_photo
from clothlib.parsing import MODELS, ParsingConfig, build_model, load_checkpoint, predict_scores, train
from clothlib.parsing.__main__ import main
from clothlib.parsing.models import _bilinear_kernel
from clothlib.parsing.train import make_model, release


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("size", [(67, 45), (100, 33), (416, 277)])
def test_scores_have_the_input_size_for_odd_sizes(name, size):
    model = build_model(name, 13, width=0.125).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, *size)).shape == (2, 13, *size)


def test_full_width_net1_builds_with_the_papers_channels():
    model = build_model("net1", 13, width=1.0)
    convs = [m for m in model.blocks.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 18  # VGG-16's 13 convolutions + one per block
    assert convs[-1].out_channels == 512
    net2 = build_model("net2", 13, width=1.0)
    assert sum(isinstance(m, torch.nn.Dropout2d) for m in net2.modules()) == 5


def test_decoder_upsampling_starts_bilinear():
    kernel = _bilinear_kernel(1, 4)[0, 0]
    np.testing.assert_allclose(kernel[1:3, 1:3], [[0.5625, 0.5625], [0.5625, 0.5625]])
    assert build_model("net1", 13)(torch.zeros(1, 3, 64, 64)).abs().max() == 0, "scores start at zero"


def _tiny_config(**changes):
    values = dict(model="net2", width=0.125, epochs=2, batch_size=2, crop=(64, 48), base_height=96,
                  eval_height=96, workers=0, max_photos=4, lr=0.05)
    values.update(changes)
    return ParsingConfig(**values)


def test_predict_writes_class_maps_at_annotation_size(tmp_path, ccp_root):
    config = _tiny_config()
    model = make_model(config).eval()
    checkpoint = tmp_path / "tiny.pt"
    release(model, config, [], checkpoint)
    out = tmp_path / "pred"
    main(["predict", "--checkpoint", str(checkpoint), "--split", "test", "--out", str(out), "--max-photos", "2"])
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 2
    loaded, loaded_config, _ = load_checkpoint(checkpoint)
    for png in pngs:
        labels = np.asarray(Image.open(png))
        assert labels.dtype == np.uint8 and labels.shape == read_class_mask(png.stem).shape
        assert labels.max() < len(CLASSES)
        expected = predict_scores(loaded, read_photo(png.stem), loaded_config.eval_height).argmax(0).numpy()
        np.testing.assert_array_equal(labels, expected)
    assert json.loads((out / "classes.json").read_text())["classes"] == CLASSES


def test_train_writes_a_self_describing_checkpoint_and_curve(tmp_path, ccp_root):
    out = train(_tiny_config(epochs=1), tmp_path / "tiny.pt", progress=False)
    checkpoint = torch.load(out, weights_only=False)
    assert checkpoint["classes"] == CLASSES and checkpoint["config"]["model"] == "net2"
    assert all(v.dtype == torch.float16 for v in checkpoint["weights"].values() if v.is_floating_point())
    curve = json.loads(out.with_suffix(".curve.json").read_text())
    assert len(curve) == 1 and 0 <= curve[0]["val_mean_iu"] <= 100 and curve[0]["loss"] > 0


def test_missing_checkpoint_says_how_to_train(tmp_path):
    with pytest.raises(FileNotFoundError, match="clothlib.parsing train"):
        load_checkpoint(tmp_path / "nope.pt")


def test_caffe_rates_translate_by_pixels_per_batch():
    from clothlib.parsing.sweep import mean_loss_rate

    config = ParsingConfig(batch_size=2, crop=(10, 5))
    assert mean_loss_rate(1e-6, config) == pytest.approx(1e-4)


def test_sweep_writes_one_row_per_model_and_rate(tmp_path, ccp_root):
    out = tmp_path / "sweep.json"
    main(["sweep", "--models", "net1", "--epochs", "1", "--batch-size", "2", "--crop", "64", "48",
          "--base-height", "96", "--eval-height", "96", "--workers", "0", "--max-photos", "2",
          "--width", "0.125", "--out", str(out)])
    runs = json.loads(out.read_text())["runs"]
    assert [r["caffe_lr"] for r in runs] == [1e-5, 1e-6, 1e-7, 1e-8, 1e-9]
    assert runs[0]["lr"] == pytest.approx(1e-5 * 2 * 64 * 48)
    assert all(0 <= r["val_mean_iu"] <= 100 for r in runs)


def test_an_interrupted_sweep_keeps_its_finished_runs(tmp_path, ccp_root, monkeypatch):
    from clothlib.parsing import sweep

    calls = []
    real_train = sweep.train
    monkeypatch.setattr(sweep, "train", lambda config, path, progress: calls.append(config.lr) or real_train(config, path, progress))
    base = _tiny_config(epochs=1, max_photos=2, model="net1")
    out = tmp_path / "sweep.json"
    sweep.lr_sweep(["net1"], base, out, caffe_rates=(1e-6,))
    first = json.loads(out.read_text())["runs"]
    rows = sweep.lr_sweep(["net1"], base, out, caffe_rates=(1e-6, 1e-7))
    assert len(calls) == 2, "the finished 1e-6 run is not trained again"
    assert rows[0] == first[0] and [r["caffe_lr"] for r in rows] == [1e-6, 1e-7]


def test_parallel_sweeps_of_two_models_share_one_file(tmp_path, ccp_root, monkeypatch):
    from clothlib.parsing import sweep

    base = _tiny_config(epochs=1, max_photos=2, model="net1")
    out = tmp_path / "sweep.json"
    real_train = sweep.train

    def train_while_net2_finishes(config, path, progress):
        if config.model == "net1":  # net2's sweep, in another process, writes while net1 trains
            monkeypatch.setattr(sweep, "train", real_train)
            sweep.lr_sweep(["net2"], base, out, caffe_rates=(1e-6,))
        return real_train(config, path, progress)

    monkeypatch.setattr(sweep, "train", train_while_net2_finishes)
    rows = sweep.lr_sweep(["net1"], base, out, caffe_rates=(1e-6,))
    assert [r["model"] for r in rows] == ["net1"]
    assert sorted(r["model"] for r in json.loads(out.read_text())["runs"]) == ["net1", "net2"]


def test_best_rate_averages_both_models_and_skips_rates_where_one_diverged():
    from clothlib.parsing.sweep import best_rate

    def run(model, lr, iu, diverged=False):
        return {"model": model, "lr": lr, "val_mean_iu": iu, "diverged": diverged}

    runs = [run("net1", 0.3, 5.9, diverged=True), run("net2", 0.3, 30.0),
            run("net1", 0.03, 7.5), run("net2", 0.03, 10.1),
            run("net1", 0.003, 7.9), run("net2", 0.003, 8.6)]
    assert best_rate(runs) == 0.03  # net1 alone would pick 0.003; 0.3 diverged for net1
    with pytest.raises(ValueError, match="run the sweep"):
        best_rate(runs[:2])
