import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from clothlib import harness
from clothlib.data import CLASSES, load_split, read_class_mask, read_photo
from clothlib.harness import MissingCheckpointError
from clothlib.parsing import (
    MODELS,
    ParsingConfig,
    SplitScore,
    build_model,
    checkpoints,
    evaluate,
    evaluate_checkpoint,
    evaluation,
    load_checkpoint,
    load_or_train,
    make_model,
    predict_scores,
    release,
    sweep,
    train,
    tune_eval_height,
)
from clothlib.parsing import __main__ as cli
from clothlib.parsing.__main__ import main
from clothlib.parsing.models import bilinear_kernel


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
    kernel = bilinear_kernel(1, 4)[0, 0]
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
    checkpoint = torch.load(out, weights_only=True)
    assert checkpoint["classes"] == CLASSES and checkpoint["config"]["model"] == "net2"
    assert all(v.dtype == torch.float16 for v in checkpoint["weights"].values() if v.is_floating_point())
    curve = json.loads(out.with_suffix(".curve.json").read_text())
    assert len(curve) == 1 and 0 <= curve[0]["val_mean_iu"] <= 100 and curve[0]["loss"] > 0


def test_fine_tuning_starts_from_the_released_weights_and_can_train_with_the_lovasz_loss(tmp_path, ccp_root):
    start = train(_tiny_config(epochs=1), tmp_path / "start.pt", progress=False)
    still = train(_tiny_config(epochs=1, lr=0.0, init=str(start)), tmp_path / "still.pt", progress=False)
    started, _, _ = load_checkpoint(start)
    unchanged, config, _ = load_checkpoint(still)
    convs = [k for k, v in started.state_dict().items() if k.endswith("weight") and v.dim() == 4]
    assert convs and all(torch.equal(started.state_dict()[k], unchanged.state_dict()[k]) for k in convs), \
        "at rate 0 a fine-tuned network keeps the weights it started from"
    assert config.init == str(start)
    fresh, _, _ = load_checkpoint(train(_tiny_config(epochs=1, lr=0.0), tmp_path / "fresh.pt", progress=False))
    assert not all(torch.equal(started.state_dict()[k], fresh.state_dict()[k]) for k in convs)
    tuned = train(_tiny_config(epochs=1, init=str(start), loss="lovasz_softmax"), tmp_path / "lovasz.pt",
                  progress=False)
    curve = json.loads(tuned.with_suffix(".curve.json").read_text())
    assert 0 < curve[0]["loss"] <= 1, "the Lovasz-softmax loss is a mean of Jaccard losses"
    with pytest.raises(ValueError, match="same model"):
        train(_tiny_config(model="net1", epochs=1, init=str(start)), tmp_path / "other.pt", progress=False)


def test_missing_checkpoint_says_how_to_train(tmp_path):
    with pytest.raises(MissingCheckpointError, match="clothlib.parsing train"):
        load_checkpoint(tmp_path / "nope.pt")


@pytest.fixture
def no_checkpoints(tmp_path, monkeypatch):
    """An empty checkpoint folder (as a non-editable install finds) and an empty cache; returns the
    paths that opted-in trainings were asked to write (they release an untrained tiny model)."""
    empty = dataclasses.replace(checkpoints.settings, checkpoint_dir=tmp_path / "ck")
    monkeypatch.setattr(checkpoints, "settings", empty)
    monkeypatch.setattr(harness, "settings", dataclasses.replace(harness.settings, cache_dir=tmp_path / "cache"))
    trained = []

    def fake_train(config, out):
        trained.append(Path(out))
        return release(make_model(config, pretrained=False), config, [], out)

    monkeypatch.setattr(checkpoints, "train", fake_train)
    return trained


def test_a_missing_shipped_checkpoint_is_an_error_naming_the_command_not_a_training(no_checkpoints, tmp_path):
    with pytest.raises(MissingCheckpointError, match="bash checkpoints/train_parsing.sh") as err:
        load_or_train(ParsingConfig(model="net1"))
    assert "python -m clothlib.parsing train --model net1" in str(err.value)
    assert not no_checkpoints and not (tmp_path / "cache").exists()


def test_fast_and_default_fallbacks_never_share_a_cache_file(no_checkpoints):
    """The bug this pins: a fallback cached under the bare model name, shared by fast and default mode."""
    fast = ParsingConfig(model="net1", width=0.125, epochs=1, max_photos=8)
    default = ParsingConfig(model="net1", width=0.125)
    _, fast_loaded, _ = load_or_train(fast, train_if_missing=True)
    _, default_loaded, checkpoint = load_or_train(default, train_if_missing=True)
    assert len(no_checkpoints) == 2 and no_checkpoints[0] != no_checkpoints[1], "default mode reused the fast run"
    assert (fast_loaded, default_loaded) == (fast, default)
    assert checkpoint["path"] == harness.cached_run_path("net1", default)
    load_or_train(default)  # the opted-in run is found again without asking to train
    assert len(no_checkpoints) == 2


def test_caffe_rates_translate_by_pixels_per_image_not_per_batch():
    """Caffe's ``normalize: false`` divides the pixel sum by the batch size (BATCH_SIZE
    normalisation), so the factor is one crop's pixels: the bug this pins multiplied by the batch too."""
    from clothlib.parsing.sweep import mean_loss_rate

    shipped = ParsingConfig(batch_size=8, crop=(256, 176))
    assert mean_loss_rate(1e-6, shipped) == pytest.approx(1e-6 * 45_056)  # the paper's best -> ~0.045
    assert mean_loss_rate(1e-6, dataclasses.replace(shipped, batch_size=2)) == mean_loss_rate(1e-6, shipped)


def test_a_sweep_file_from_the_per_batch_translation_is_not_reused():
    from clothlib.parsing.sweep import finished_runs, merge_run

    base = ParsingConfig(batch_size=2, crop=(10, 5))
    row = {"model": "net1", "caffe_lr": 1e-6, "lr": 5e-5}
    fresh = json.loads(json.dumps(merge_run(None, base, row)))  # as read back from the file
    assert fresh["translation"] == "per_image" and fresh["pixels_per_image"] == 50
    assert finished_runs(fresh, base) == [row]
    old = {"config": fresh["config"], "pixels_per_batch": 100, "runs": [{**row, "lr": 1e-4}]}
    assert finished_runs(old, base) == [], "rows translated per batch would be skipped instead of re-run"


def test_a_sweep_file_written_before_a_config_field_existed_is_still_reused():
    from clothlib.parsing.sweep import finished_runs, merge_run

    base = ParsingConfig(batch_size=2, crop=(10, 5))
    row = {"model": "net1", "caffe_lr": 1e-6, "lr": 5e-5}
    older = json.loads(json.dumps(merge_run(None, base, row)))
    for field in ("loss", "init"):  # fields added after the shipped sweep ran, at their defaults
        del older["config"][field]
    assert finished_runs(older, base) == [row]
    assert finished_runs(older, dataclasses.replace(base, loss="lovasz_softmax")) == []


def test_a_run_that_predicts_one_class_everywhere_is_labelled_as_such():
    from clothlib.parsing.sweep import predicts_one_class

    assert predicts_one_class(7.692)  # 100 / 13, as the metrics file rounds it
    assert not predicts_one_class(7.9) and not predicts_one_class(10.25)


SWEEP_FLAGS = ["--epochs", "1", "--batch-size", "2", "--crop", "64", "48", "--base-height", "96", "--eval-height", "96",
               "--workers", "0", "--max-photos", "2", "--width", "0.125"]


def test_sweep_writes_one_row_per_model_and_rate(tmp_path, ccp_root):
    out = tmp_path / "sweep.json"
    main(["sweep", "--models", "net1", *SWEEP_FLAGS, "--out", str(out)])
    runs = json.loads(out.read_text())["runs"]
    assert [r["caffe_lr"] for r in runs] == [1e-5, 1e-6, 1e-7, 1e-8, 1e-9]
    assert runs[0]["lr"] == pytest.approx(1e-5 * 64 * 48)  # pixels per image, whatever the batch size
    assert all(isinstance(r["background_only"], bool) for r in runs)
    assert all(0 <= r["val_mean_iu"] <= 100 for r in runs)


def test_an_interrupted_sweep_keeps_its_finished_runs(tmp_path, ccp_root, monkeypatch):
    calls = []
    real_train = sweep.train

    def train_interrupted_once(config, path, progress):
        calls.append(config.lr)
        if len(calls) == 2:  # the first command is stopped during its second run
            raise KeyboardInterrupt
        return real_train(config, path, progress)

    monkeypatch.setattr(sweep, "train", train_interrupted_once)
    out = tmp_path / "sweep.json"
    command = ["sweep", "--models", "net1", "--caffe-rates", "1e-6", "1e-7", *SWEEP_FLAGS, "--out", str(out)]
    with pytest.raises(KeyboardInterrupt):
        main(command)
    first = json.loads(out.read_text())["runs"]
    assert [r["caffe_lr"] for r in first] == [1e-6]
    main(command)
    runs = json.loads(out.read_text())["runs"]
    assert len(calls) == 3 and calls[2] == calls[1], "the finished 1e-6 run is not trained again"
    assert runs[0] == first[0] and [r["caffe_lr"] for r in runs] == [1e-6, 1e-7]


def test_parallel_sweeps_of_two_models_share_one_file(tmp_path, ccp_root, monkeypatch):
    out = tmp_path / "sweep.json"
    command = ["--caffe-rates", "1e-6", *SWEEP_FLAGS, "--out", str(out)]
    real_train = sweep.train

    def train_while_net2_finishes(config, path, progress):
        if config.model == "net1":  # net2's sweep, in another process, writes while net1 trains
            monkeypatch.setattr(sweep, "train", real_train)
            main(["sweep", "--models", "net2", *command])
        return real_train(config, path, progress)

    monkeypatch.setattr(sweep, "train", train_while_net2_finishes)
    main(["sweep", "--models", "net1", *command])
    assert sorted(r["model"] for r in json.loads(out.read_text())["runs"]) == ["net1", "net2"]


@pytest.fixture
def tiny_checkpoint(tmp_path, ccp_root):
    """An untrained tiny net2 released alone in a folder (so a test sees every file written beside it)."""
    config = _tiny_config()
    path = tmp_path / "checkpoints" / "tiny.pt"
    path.parent.mkdir()
    release(make_model(config).eval(), config, [], path)
    return path


def test_evaluators_write_nothing_and_keep_per_photo_scores(tiny_checkpoint, monkeypatch):
    monkeypatch.setattr(evaluation, "load_split", lambda split, max_photos=None: load_split(split)[:2][:max_photos])
    before = sorted(tiny_checkpoint.parent.iterdir())
    result = evaluate_checkpoint(tiny_checkpoint, "test", progress=False)
    heights = tune_eval_height(tiny_checkpoint, heights=(64, 128), progress=False)
    assert sorted(tiny_checkpoint.parent.iterdir()) == before, "evaluators return results, the CLI saves them"
    assert heights["best"] in (64, 128) and load_checkpoint(tiny_checkpoint)[1].eval_height == 96

    ids = load_split("test")[:2]
    assert list(result["per_photo"]) == ids
    summed = sum(np.array(photo["confusion"]) for photo in result["per_photo"].values())
    np.testing.assert_array_equal(summed, result["confusion_matrix"])
    model, config, _ = load_checkpoint(tiny_checkpoint)
    one = SplitScore.of_photos(result, ids[1:])
    np.testing.assert_array_equal(one.matrix.mat, evaluate(model, ids[1:], config.eval_height, progress=False).mat)
    assert one.summary()["mean_iu"] == evaluate(model, ids[1:], config.eval_height, progress=False).summary()["mean_iu"]
    with pytest.raises(ValueError, match="no per-photo scores"):
        SplitScore.of_photos(result, load_split("test")[2:3])


def test_the_command_line_saves_whole_splits_only_and_releases_the_tuned_height(tiny_checkpoint, monkeypatch):
    def two_photos(split, max_photos=None):
        return load_split(split)[:2][:max_photos]

    for module in (evaluation, cli):
        monkeypatch.setattr(module, "load_split", two_photos)
    saved = tiny_checkpoint.with_suffix(".test.metrics.json")
    main(["evaluate", "--checkpoint", str(tiny_checkpoint), "--max-photos", "1"])
    assert not saved.exists(), "a subset's numbers are never saved as the split's"
    elsewhere = saved.with_name("one.json")
    main(["evaluate", "--checkpoint", str(tiny_checkpoint), "--max-photos", "1", "--out", str(elsewhere)])
    assert json.loads(elsewhere.read_text())["photos"] == 1
    main(["evaluate", "--checkpoint", str(tiny_checkpoint), "--max-photos", "2"])
    assert json.loads(saved.read_text())["photos"] == 2

    main(["tune-height", "--checkpoint", str(tiny_checkpoint), "--heights", "64", "128"])
    table = json.loads(tiny_checkpoint.with_suffix(".eval_height.json").read_text())
    assert table["previous"] == 96 and table["photos"] == 2
    assert load_checkpoint(tiny_checkpoint)[1].eval_height == table["best"], "the checkpoint is re-released"


def test_best_rate_averages_both_models_and_skips_rates_where_one_diverged():
    from clothlib.parsing.sweep import best_rate

    def run(model, lr, iu, diverged=False):
        return {"model": model, "lr": lr, "val_mean_iu": iu, "diverged": diverged}

    runs = [run("net1", 0.3, 5.9, diverged=True), run("net2", 0.3, 30.0),
            run("net1", 0.03, 7.5), run("net2", 0.03, 10.1),
            run("net1", 0.003, 7.9), run("net2", 0.003, 8.6)]
    assert best_rate(runs) == 0.03  # net1 alone would pick 0.003; 0.3 diverged for net1
    runs[3]["background_only"] = True  # net2 at 0.03 learnt only the background: 0.03 is not usable
    assert best_rate(runs) == 0.003
    with pytest.raises(ValueError, match="run the sweep"):
        best_rate(runs[:2])


def test_ranked_rates_order_the_usable_rates_by_their_mean_over_both_models():
    from clothlib.parsing.sweep import ranked_rates

    def run(model, lr, iu, background_only=False):
        return {"model": model, "lr": lr, "val_mean_iu": iu, "diverged": False, "background_only": background_only}

    runs = [run("net1", 0.3, 5.9, background_only=True), run("net2", 0.3, 30.0),
            run("net1", 0.03, 7.0), run("net2", 0.03, 9.0), run("net1", 0.003, 9.0), run("net2", 0.003, 8.0)]
    assert ranked_rates(runs) == [(0.003, 8.5), (0.03, 8.0)]  # 0.3 left out: net1 learnt only the background


def test_flip_augmentation_averages_the_photo_and_its_mirror_mirrored_back(ccp_root):
    torch.manual_seed(0)
    model = build_model("net2", 13, width=0.125).eval()
    for module in model.modules():  # break the network's own symmetry, so the mirror really differs
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.normal_(module.weight, std=0.3)
    photo = read_photo(load_split("test")[0])[:200, :150]
    plain = predict_scores(model, photo, 96)
    mirrored = predict_scores(model, np.ascontiguousarray(photo[:, ::-1]), 96).flip(2)
    assert not torch.allclose(plain, mirrored, atol=1e-3)
    assert torch.allclose(predict_scores(model, photo, 96, flip=True), (plain + mirrored) / 2, atol=1e-6)
    two_scales = predict_scores(model, photo, 96, scales=(0.5, 1.0))
    assert torch.allclose(two_scales, (predict_scores(model, photo, 48) + plain) / 2, atol=1e-6)
    assert torch.allclose(two_scales.sum(0), torch.ones(photo.shape[:2]), atol=1e-5), "still probabilities"


def test_the_augmentation_comparison_times_each_and_writes_nothing(tiny_checkpoint, monkeypatch):
    monkeypatch.setattr(evaluation, "load_split", lambda split, max_photos=None: load_split(split)[:2][:max_photos])
    before = sorted(tiny_checkpoint.parent.iterdir())
    result = evaluation.compare_augmentations(tiny_checkpoint, "val", augmentations=("none", "flip"), progress=False)
    assert sorted(tiny_checkpoint.parent.iterdir()) == before
    plain = evaluate_checkpoint(tiny_checkpoint, "val", progress=False)
    assert result["rows"]["none"]["mean_iu"] == plain["mean_iu"] and result["photos"] == 2
    for row in result["rows"].values():
        assert 0 < row["wall_s_p50"] <= row["wall_s_p95"] <= row["wall_s_max"]
    out = tiny_checkpoint.parent / "t.json"
    main(["tta", "--checkpoint", str(tiny_checkpoint), "--max-photos", "2", "--out", str(out)])
    assert set(json.loads(out.read_text())["rows"]) == {"none", "flip", "flip_scales"}
