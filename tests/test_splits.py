import pytest

from clothlib.data import SPLITS, annotated_ids, load_split, make_splits
from clothlib.data.splits import write_splits


def test_committed_splits_are_disjoint_and_cover_the_annotated_photos():
    splits = {name: load_split(name) for name in SPLITS}
    sets = {name: set(ids) for name, ids in splits.items()}
    assert all(len(ids) == len(sets[name]) for name, ids in splits.items()), "no duplicates"
    assert not (sets["train"] & sets["val"] or sets["train"] & sets["test"] or sets["val"] & sets["test"])
    everything = sets["train"] | sets["val"] | sets["test"]
    assert everything == {f"{i:04d}" for i in range(1, 1005)}
    assert len(splits["test"]) == 201  # paper §3.1: 8:2
    assert len(splits["val"]) == 100


def test_committed_splits_are_what_the_seed_gives(tmp_path):
    ids = [f"{i:04d}" for i in range(1, 1005)]
    write_splits(make_splits(ids), tmp_path)
    for name in SPLITS:
        assert load_split(name, tmp_path) == load_split(name)


def test_make_splits_is_deterministic_and_seed_dependent():
    ids = [f"{i:04d}" for i in range(1, 101)]
    assert make_splits(ids, seed=3) == make_splits(list(reversed(ids)), seed=3)
    assert make_splits(ids, seed=3)["test"] != make_splits(ids, seed=4)["test"]


def test_annotated_ids_match_the_committed_splits(ccp_root):
    assert set(annotated_ids()) == set().union(*(load_split(n) for n in SPLITS))


def test_unknown_split_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="choose one of"):
        load_split("training")
    with pytest.raises(FileNotFoundError, match="make-splits"):
        load_split("train", tmp_path)
