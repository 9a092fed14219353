"""Every loader meets a damaged or foreign file: it fails naming the file and the command that
remakes it (or heals a cache by rebuilding the entry), never serves it silently (issue 27)."""
from __future__ import annotations

import dataclasses
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from clothlib import hashing, results
from clothlib.data import c2s, ccp
from clothlib.data.images import read_view
from clothlib.engine import CorruptCheckpointError, fit
from clothlib.hashing import features
from clothlib.hashing.config import DEFAULT_NETWORK
from clothlib.retrieval import export_files, load_export

REPO = Path(__file__).resolve().parents[1]


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


class Payload:
    """What a doctored checkpoint carries: unpickling it calls ``open(marker, "w")``, a stand-in for
    any code an attacker's file would run inside ``torch.load(weights_only=False)``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


SHIPPED = sorted((REPO / "checkpoints").glob("*.pt"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_checkpoint_loads_as_plain_data(path):
    assert isinstance(torch.load(path, map_location="cpu", weights_only=True), dict)


def test_a_checkpoint_carrying_code_is_refused_before_anything_runs(tmp_path):
    """The bug: a doctored hash_catt3_net_48.pt ran its payload inside hashing.load_checkpoint,
    which then loaded normally."""
    shipped = REPO / "checkpoints" / f"{DEFAULT_NETWORK}.pt"
    doctored, marker = tmp_path / shipped.name, tmp_path / "payload-ran"
    torch.save({**torch.load(shipped, map_location="cpu", weights_only=True), "note": Payload(marker)}, doctored)
    with pytest.raises(CorruptCheckpointError, match=rf"{doctored.name} cannot be loaded: it carries objects .*"
                                                     "train_hashing.sh"):
        hashing.load_checkpoint(doctored)
    assert not marker.exists(), "nothing the file carries ran"
    torch.load(doctored, weights_only=False)  # what the old loader did: the payload is real
    assert marker.exists()


def _truncated(source, out):
    data = source.read_bytes()
    out.write_bytes(data[:len(data) // 2])
    return out


def test_a_truncated_checkpoint_names_the_file_and_its_command(tmp_path):
    damaged = _truncated(REPO / "checkpoints" / f"{DEFAULT_NETWORK}.pt", tmp_path / f"{DEFAULT_NETWORK}.pt")
    with pytest.raises(CorruptCheckpointError, match=rf"{damaged.name} cannot be loaded: it is damaged.*"
                                                     r"train_hashing.sh.*git checkout"):
        hashing.load_checkpoint(damaged)


def test_a_truncated_state_file_names_the_file_and_what_to_do(tmp_path):
    model = torch.nn.Linear(2, 1)
    loader = [(torch.ones(2, 2), torch.ones(2, 1))]

    def step(model, batch):
        return torch.nn.functional.mse_loss(model(batch[0]), batch[1]), {}

    state = tmp_path / "run.state.pt"
    fit(model, torch.optim.SGD(model.parameters(), lr=0.1), loader, step, epochs=1, state_path=state, meta={})
    assert torch.load(state, weights_only=True)["epoch"] == 1, "a state file is plain data"
    _truncated(state, state)
    with pytest.raises(CorruptCheckpointError, match=r"run.state.pt cannot be loaded.*Delete it"):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), loader, step, epochs=2, state_path=state, meta={})


@pytest.fixture()
def two_copies(tmp_path, ccp_root, monkeypatch):
    """Two one-photo copies of CCP whose photo 0003 has different masks, read through one shared
    cache folder; returns a function that points the settings at copy ``a`` or ``b``."""
    copies = {}
    for name, fill in (("a", None), ("b", 5)):
        root = copies[name] = tmp_path / name
        for sub in ("photos", "annotations/pixel-level", "annotations/image-level"):
            (root / sub).mkdir(parents=True)
        shutil.copy(ccp_root / "label_list.mat", root)
        shutil.copy(ccp_root / "photos/0003.jpg", root / "photos")
        mask = scipy.io.loadmat(ccp_root / "annotations/pixel-level/0003.mat")["groundtruth"]
        scipy.io.savemat(root / "annotations/pixel-level/0003.mat",
                         {"groundtruth": mask if fill is None else np.full_like(mask, fill)})

    def use(name):
        monkeypatch.setattr(ccp, "settings", dataclasses.replace(ccp.settings, data_root=copies[name],
                                                                 cache_dir=tmp_path / "cache"))
        return copies[name]
    return use


def test_the_mask_cache_never_serves_another_copys_mask(two_copies):
    """The bug: the cache keyed on photo id and file time, so switching CLOTHLIB_DATA served the
    other copy's mask."""
    two_copies("a")
    first = ccp.read_groundtruth("0003")
    two_copies("b")
    assert (ccp.read_groundtruth("0003") == 5).all()
    two_copies("a")
    assert np.array_equal(ccp.read_groundtruth("0003"), first) and len(np.unique(first)) > 1


def _only_entry(root) -> Path:
    (entry,) = (root.parent / "cache" / "groundtruth").glob("0003-*.npy")
    return entry


@pytest.mark.parametrize("damage", ["truncated", "wrong size"])
def test_a_bad_cached_mask_is_rebuilt(two_copies, damage):
    """The bugs: a truncated entry raised 'Failed to read all data'; a valid entry of the wrong
    size was served (photo 0003: 0 garments instead of 6)."""
    root = two_copies("a")
    good = ccp.read_groundtruth("0003")
    entry = _only_entry(root)
    if damage == "truncated":
        entry.write_bytes(entry.read_bytes()[:1000])
    else:
        np.save(entry, np.zeros((10, 10), np.uint8))
    assert np.array_equal(ccp.read_groundtruth("0003"), good)
    assert np.array_equal(np.load(entry), good), "the entry is healed, not just bypassed"


@pytest.mark.parametrize("damage", ["truncated", "other items"])
def test_a_bad_feature_cache_file_is_computed_again(cache_in, tmp_path, monkeypatch, damage):
    """The bug: a truncated feature cache raised a raw BadZipFile, and stayed so."""
    monkeypatch.setattr(features, "settings", dataclasses.replace(features.settings, cache_dir=tmp_path))
    monkeypatch.setattr(features, "Backbone", lambda name: None)  # the network's numbers are not the point here
    computed = []

    def encode_views(model, paths, flips, progress, desc):
        computed.append(desc)
        return np.arange(len(paths) * flips * 4, dtype=np.float32).reshape(len(paths), flips, 4)

    monkeypatch.setattr(features, "encode_views", encode_views)
    good = features.split_features(cache_in, "test", progress=False)
    assert len(computed) == 2 and features.split_features(cache_in, "test", progress=False) and len(computed) == 2
    (path,) = tmp_path.rglob("*.npz")
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])
    else:
        np.savez(path, **{**good, "item_ids": np.asarray([f"x{i}" for i in range(len(good["item_ids"]))])})
    again = features.split_features(cache_in, "test", progress=False)
    assert len(computed) == 4, "computed again"
    assert all(np.array_equal(again[key], good[key]) for key in good)
    assert features.read_cached(path, list(good["item_ids"])) is not None, "the file is healed"


def test_a_damaged_item_image_names_the_repair_and_verify_rebuilds_it(ccp_root, tmp_path, capsys):
    """The bug: a garbage item image's error advised re-running build_c2s.py, a no-op (it checks
    meta.json only)."""
    out = c2s.build_c2s(tmp_path / "c2s", photo_ids=["0003"], workers=1, progress=False)
    rows = c2s.load_manifest(out)
    garbage, small = out / rows[0]["consumer"], out / rows[-1]["shop"]
    originals = {path: path.read_bytes() for path in (garbage, small)}
    garbage.write_bytes(b"not an image")
    Image.new("RGB", (10, 10)).save(small, format=Image.open(io.BytesIO(originals[small])).format)
    with pytest.raises(ValueError, match=rf"{garbage.name}.*build_c2s.py --verify"):
        read_view(garbage)
    assert c2s.bad_views(out) == [garbage, small]
    c2s.build_c2s(out, photo_ids=["0003"], workers=1, progress=False)
    assert garbage.read_bytes() == b"not an image", "without --verify the quick check passes"
    c2s.build_c2s(out, photo_ids=["0003"], workers=1, progress=True, verify=True)
    assert "2 bad item images" in capsys.readouterr().out
    assert all(path.read_bytes() == data for path, data in originals.items()) and not c2s.bad_views(out)
