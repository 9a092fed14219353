"""The results module: JSON and array exports are complete or absent; a missing file names its command."""
from __future__ import annotations

import json

import numpy as np
import pytest

from clothlib import results


def test_save_and_load_json(tmp_path):
    path = results.save_json(tmp_path / "sub" / "a.json", {"x": 1.5})
    assert results.load_json(path, "unused") == {"x": 1.5}


def test_missing_result_names_the_command(tmp_path):
    with pytest.raises(results.MissingResultError, match="python -m clothlib.parsing evaluate"):
        results.load_json(tmp_path / "absent.json", "python -m clothlib.parsing evaluate")


def test_failed_json_leaves_the_old_file(tmp_path):
    path = results.save_json(tmp_path / "a.json", {"ok": True})
    with pytest.raises(TypeError):
        results.save_json(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"ok": True}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_save_arrays_writes_meta_last(tmp_path, monkeypatch):
    written = []
    real = results.atomic_write

    def spy(path, mode="w"):
        written.append(path.name)
        return real(path, mode)

    monkeypatch.setattr(results, "atomic_write", spy)
    folder = results.save_arrays(tmp_path / "export", {"codes.npy": np.arange(3)}, {"items": 3})
    assert written == ["codes.npy", "export.json"]
    assert np.array_equal(np.load(folder / "codes.npy"), np.arange(3))


def test_metrics_path():
    assert results.metrics_path("ck/net1.pt", "test").name == "net1.test.metrics.json"
    assert results.metrics_path("ck/net1.pt", "test", "crf.metrics").name == "net1.test.crf.metrics.json"
