import hashlib
import os

import pytest

from clothlib.io import atomic_write, sha256_file


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


def test_sha256_file_reads_in_chunks_and_equals_hashlib(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(bytes(range(256)) * 40)
    assert sha256_file(path, chunk=1000) == hashlib.sha256(path.read_bytes()).hexdigest()
