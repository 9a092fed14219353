import json

import numpy as np
import pytest
from PIL import Image

from clothlib.data import load_split, read_class_mask
from clothlib.parsing import (
    CRFParams,
    ParsingConfig,
    SplitScore,
    crf_search,
    evaluate_crf,
    make_model,
    release,
    search_crf,
    tuned_crf_params,
)
from clothlib.parsing import __main__ as cli
from clothlib.parsing.__main__ import main
from clothlib.results import MissingResultError, save_json


@pytest.fixture()
def tiny_checkpoint(tmp_path, ccp_root):
    """An untrained tiny net1 released alone in a folder (so a test sees every file written beside it)."""
    config = ParsingConfig(model="net1", width=0.125, eval_height=96)
    path = tmp_path / "checkpoints" / "tiny.pt"
    path.parent.mkdir()
    release(make_model(config).eval(), config, [], path)
    return path


def test_search_returns_the_best_setting_and_writes_nothing(tiny_checkpoint):
    grid = {"bilateral_sxy": (20.0, 40.0), "bilateral_srgb": (10.0,), "bilateral_weight": (5.0,)}
    before = sorted(tiny_checkpoint.parent.iterdir())
    result = search_crf(tiny_checkpoint, "val", grid=grid, scale=0.25, max_photos=2, workers=1, progress=False)
    assert sorted(tiny_checkpoint.parent.iterdir()) == before
    assert len(result["runs"]) == 2 and result["split"] == "val" and result["photos"] == 2
    best = CRFParams.from_dict(result["best"])
    assert best.bilateral_sxy in (20.0, 40.0) and best.scale == 0.25
    assert result["best"] == CRFParams.from_dict(max(result["runs"], key=lambda r: r["mean_iu"])).to_dict()
    assert all(0 < r["cpu_s_p50"] <= r["cpu_s_p95"] <= r["cpu_s_max"] for r in result["runs"])
    assert result["time_bound_s"] == crf_search.TIME_BOUND_S and result["trade_off"]


def _run(mean_iu, p95):
    return {"mean_iu": mean_iu, "cpu_s_p95": p95}


def test_the_choice_is_the_best_mean_iu_within_the_time_bound():
    runs = [_run(53.6, 0.45), _run(53.5, 0.29), _run(53.0, 0.20), _run(52.0, 0.31)]
    assert crf_search.choose_within(runs, 0.3) == runs[1]  # 53.6 is better but too slow
    with pytest.raises(ValueError, match="larger bandwidths"):
        crf_search.choose_within(runs, 0.1)


def test_the_trade_off_curve_keeps_only_settings_nothing_beats_on_both():
    runs = [_run(53.6, 0.45), _run(53.5, 0.29), _run(53.0, 0.20), _run(52.0, 0.31), _run(52.5, 0.25)]
    assert crf_search.trade_off(runs) == [runs[2], runs[1], runs[0]]  # fastest first, mean IU rising


def test_the_command_line_saves_the_search_and_predict_uses_it(tiny_checkpoint, tmp_path):
    crf_file = crf_search.crf_file(tiny_checkpoint)
    search = ["crf-search", "--checkpoint", str(tiny_checkpoint), "--max-photos", "1", "--workers", "1",
              "--time-bound", "60"]  # the choice, not this machine's speed, is under test
    main(search)
    assert not crf_file.exists(), "a search on a subset is not saved as the checkpoint's tuning"
    main([*search, "--out", str(crf_file)])
    assert tuned_crf_params(tiny_checkpoint).to_dict() == json.loads(crf_file.read_text())["best"]
    assert json.loads(crf_file.read_text())["time_bound_s"] == 60

    out = tmp_path / "pred"
    main(["predict", "--checkpoint", str(tiny_checkpoint), "--split", "test", "--out", str(out),
          "--max-photos", "2", "--crf"])
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 2
    for png in pngs:
        assert np.asarray(Image.open(png)).shape == read_class_mask(png.stem).shape


def test_evaluate_crf_reports_fcn_and_crf_side_by_side_per_photo_too(tiny_checkpoint):
    before = sorted(tiny_checkpoint.parent.iterdir())
    result = evaluate_crf(tiny_checkpoint, "test", params=CRFParams(scale=0.25, iterations=2), max_photos=2,
                          workers=1, progress=False)
    assert sorted(tiny_checkpoint.parent.iterdir()) == before, "evaluators return results, the CLI saves them"
    ids = load_split("test")[:2]
    for name in ("fcn", "crf"):
        assert 0 <= result[name]["mean_iu"] <= 100 and "boundary_f" in result[name]
        assert list(result[name]["per_photo"]) == ids
        again = SplitScore.of_photos(result[name], ids).summary()
        assert (again["mean_iu"], again["boundary_f"]) == (result[name]["mean_iu"], result[name]["boundary_f"])
    one = SplitScore.of_photos(result["crf"], ids[:1]).summary()
    assert one["confusion_matrix"] == result["crf"]["per_photo"][ids[0]]["confusion"]


def test_untuned_checkpoint_says_how_to_tune(tiny_checkpoint):
    with pytest.raises(MissingResultError, match="crf-search"):
        tuned_crf_params(tiny_checkpoint)


def test_whole_split_metrics_are_saved_only_by_the_command_line(tiny_checkpoint, monkeypatch):
    def two_photos(split, max_photos=None):
        return load_split(split)[:2][:max_photos]

    for module in (crf_search, cli):
        monkeypatch.setattr(module, "load_split", two_photos)
    save_json(crf_search.crf_file(tiny_checkpoint), {"best": CRFParams(scale=0.25, iterations=2).to_dict()})
    saved = tiny_checkpoint.with_suffix(".test.crf.metrics.json")
    result = evaluate_crf(tiny_checkpoint, "test", workers=1, progress=False)
    assert not saved.exists(), "a notebook recomputing the metrics must not replace the shipped file"
    main(["crf-eval", "--checkpoint", str(tiny_checkpoint), "--max-photos", "1", "--workers", "1"])
    assert not saved.exists(), "a subset's numbers are never saved as the split's"
    main(["crf-eval", "--checkpoint", str(tiny_checkpoint), "--workers", "1"])
    written = json.loads(saved.read_text())["crf"]
    assert written["confusion_matrix"] == result["crf"]["confusion_matrix"]
    assert written["per_photo"] == result["crf"]["per_photo"]
    assert written["mean_iu"] == pytest.approx(result["crf"]["mean_iu"])
