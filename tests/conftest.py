"""Shared fixtures: the real CCP copy (skip clearly when it is absent)."""
from __future__ import annotations

import pytest

from clothlib import settings
from clothlib.data import DatasetMissingError, check_dataset


@pytest.fixture(scope="session")
def ccp_root():
    try:
        return check_dataset()
    except DatasetMissingError as err:
        pytest.skip(f"needs the CCP dataset: {err}")
