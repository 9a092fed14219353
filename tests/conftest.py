"""Shared fixtures: the real CCP copy (skip clearly when it is absent)."""
from __future__ import annotations

import dataclasses

import pytest

from clothlib.data import DatasetMissingError, c2s, check_dataset
from clothlib.data.splits import load_split


@pytest.fixture(scope="session")
def ccp_root():
    try:
        return check_dataset()
    except DatasetMissingError as err:
        pytest.skip(f"needs the CCP dataset: {err}")


SMALL_SET_PHOTOS = load_split("train")[:12] + load_split("val")[:3] + load_split("test")[:3]


@pytest.fixture(scope="session")
def small_set(ccp_root, tmp_path_factory):
    """A consumer-to-shop set cut from 18 real photos, and a folder for its cached features."""
    folder = c2s.build_c2s(tmp_path_factory.mktemp("c2s") / "c2s", photo_ids=SMALL_SET_PHOTOS, workers=1,
                           progress=False)
    return folder, tmp_path_factory.mktemp("cache")


@pytest.fixture
def cache_in(small_set, monkeypatch):
    """The small set, with backbone features cached in a temporary folder, not the course's."""
    from clothlib.hashing import features

    monkeypatch.setattr(features, "settings", dataclasses.replace(features.settings, cache_dir=small_set[1]))
    return small_set[0]
