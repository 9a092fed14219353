import os

import pytest

from clothlib.io import atomic_write


def test_atomic_write_leaves_no_file_when_the_block_fails(tmp_path):
    target = tmp_path / "artifact.json"
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write("half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_gives_the_file_a_normal_mode(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "artifact.json") as f:
            f.write("{}")
    finally:
        os.umask(old)
    assert (tmp_path / "artifact.json").stat().st_mode & 0o777 == 0o644
