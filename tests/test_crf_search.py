import json

import numpy as np
import pytest
from PIL import Image

from clothlib.data import read_class_mask
from clothlib.parsing import CRFParams, evaluate_crf, search_crf, tuned_crf_params
from clothlib.parsing.__main__ import main
from clothlib.parsing.train import ParsingConfig, make_model, release


@pytest.fixture()
def tiny_checkpoint(tmp_path, ccp_root):
    config = ParsingConfig(model="net1", width=0.125, eval_height=96)
    model = make_model(config).eval()
    path = tmp_path / "tiny.pt"
    release(model, config, [], path)
    return path


def test_search_stores_the_best_setting_and_predict_uses_it(tiny_checkpoint, tmp_path):
    grid = {"bilateral_sxy": (20.0, 40.0), "bilateral_srgb": (10.0,), "bilateral_weight": (5.0,)}
    result = search_crf(tiny_checkpoint, "val", grid=grid, scale=0.25, max_photos=2, workers=1, progress=False)
    assert len(result["runs"]) == 2 and result["split"] == "val"
    best = tuned_crf_params(tiny_checkpoint)
    assert best.bilateral_sxy in (20.0, 40.0) and best.scale == 0.25
    assert json.loads(tiny_checkpoint.with_suffix(".crf.json").read_text())["best"] == best.to_dict()

    out = tmp_path / "pred"
    main(["predict", "--checkpoint", str(tiny_checkpoint), "--split", "test", "--out", str(out),
          "--max-photos", "2", "--crf"])
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 2
    for png in pngs:
        assert np.asarray(Image.open(png)).shape == read_class_mask(png.stem).shape


def test_evaluate_crf_reports_fcn_and_crf_side_by_side(tiny_checkpoint):
    result = evaluate_crf(tiny_checkpoint, "test", params=CRFParams(scale=0.25, iterations=2), max_photos=2,
                          workers=1, progress=False)
    for name in ("fcn", "crf"):
        assert 0 <= result[name]["mean_iu"] <= 100 and "boundary_f" in result[name]
    assert not tiny_checkpoint.with_suffix(".test.crf.metrics.json").exists(), "a subset is never saved as the split"


def test_untuned_checkpoint_says_how_to_tune(tiny_checkpoint):
    with pytest.raises(FileNotFoundError, match="crf-search"):
        tuned_crf_params(tiny_checkpoint)


def test_whole_split_metrics_are_saved_only_when_asked(tiny_checkpoint, monkeypatch):
    import clothlib.parsing.crf_search as crf_search

    two_photos = crf_search.load_split("test")[:2]
    monkeypatch.setattr(crf_search, "load_split", lambda split, max_photos=None: two_photos[:max_photos])
    params = CRFParams(scale=0.25, iterations=2)
    saved = tiny_checkpoint.with_suffix(".test.crf.metrics.json")
    evaluate_crf(tiny_checkpoint, "test", params=params, workers=1, progress=False)
    assert not saved.exists(), "a notebook recomputing the metrics must not replace the shipped file"
    result = evaluate_crf(tiny_checkpoint, "test", params=params, workers=1, progress=False, save=True)
    written = json.loads(saved.read_text())["crf"]
    assert written["confusion_matrix"] == result["crf"]["confusion_matrix"]
    assert written["mean_iu"] == pytest.approx(result["crf"]["mean_iu"])
