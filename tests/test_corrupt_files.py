"""Every loader meets a damaged or foreign file: it fails naming the file and the command that
remakes it (or heals a cache by rebuilding the entry), never serves it silently (issue 27)."""
from __future__ import annotations

import numpy as np
import pytest

from clothlib import results
from clothlib.retrieval import export_files, load_export


def _export(seed: int, items: int = 6) -> dict:
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((items, 16)).astype(np.float32)
    ids = [f"{seed}-{i}" for i in range(items)]
    return {"meta": {"bits": 16, "split": "test", "c2s": "c2s", "checkpoint": f"net{seed}.pt", "model": "net"},
            "query_codes": np.packbits(features >= 0, axis=1), "gallery_codes": np.packbits(features >= 0, axis=1),
            "query_features": features, "gallery_features": features, "query_relaxed": np.tanh(features),
            "query_items": np.asarray(ids), "gallery_items": np.asarray(ids)}


def _save(folder, export):
    return results.save_arrays(folder, export_files(export), export["meta"])


def test_export_round_trip_keeps_meta_and_arrays(tmp_path):
    export = _export(1)
    loaded = load_export(_save(tmp_path / "export", export))
    assert loaded["meta"] == export["meta"], "the checksums stay out of the metadata a reader sees"
    assert np.array_equal(loaded["query_features"], export["query_features"])


def test_interrupted_reexport_is_incomplete_not_a_mix(tmp_path, monkeypatch):
    """The bug: re-encoding checkpoint B over A's export, killed after its first array, left A's
    export.json over B's first array and A's others; evaluation scored the mix at chance, as A."""
    folder = _save(tmp_path / "export", _export(1))
    real, calls = results.atomic_write, []

    def killed_after_first_array(path, mode="w"):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(path, mode)

    monkeypatch.setattr(results, "atomic_write", killed_after_first_array)
    with pytest.raises(KeyboardInterrupt):
        _save(folder, _export(2))
    monkeypatch.undo()
    with pytest.raises(results.MissingResultError, match="interrupted.*python -m clothlib.hashing encode"):
        load_export(folder)


def test_an_array_from_another_export_or_damaged_is_refused(tmp_path):
    first, second = _save(tmp_path / "a", _export(1)), _save(tmp_path / "b", _export(2))
    (first / "query_codes.npy").write_bytes((second / "query_codes.npy").read_bytes())  # same shape, other export
    with pytest.raises(results.CorruptExportError, match=r"a/query_codes.npy does not match .*hashing encode"):
        load_export(first)
    data = (second / "gallery_features.npy").read_bytes()
    (second / "gallery_features.npy").write_bytes(data[:len(data) // 2])  # truncated
    with pytest.raises(results.CorruptExportError, match="gallery_features.npy"):
        load_export(second)
