"""fetch_ccp against a real HTTP server on localhost serving a small CCP-shaped zip.

The small zip is built from a handful of real CCP files, so these tests need a local copy of the
dataset: ``$CCP_SOURCE``, default ``<repo>/../shared/datasets/ccp``.
"""
from __future__ import annotations

import io
import os
import runpy
import shutil
import socket
import subprocess
import sys
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from clothlib.data.download import MARKER, DatasetError, fetch_ccp, read_manifest, write_manifest

REPO = Path(__file__).resolve().parents[1]
CCP_SOURCE = Path(os.environ.get("CCP_SOURCE", REPO.parent / "shared" / "datasets" / "ccp"))
NO_CCP = f"no CCP copy at {CCP_SOURCE}; set CCP_SOURCE to a folder holding photos/, annotations/, label_list.mat"
needs_ccp = pytest.mark.skipif(not (CCP_SOURCE / "label_list.mat").is_file(), reason=NO_CCP)
SAMPLE = [
    "annotations/image-level/1005.mat",
    "annotations/image-level/1006.mat",
    "annotations/pixel-level/0001.mat",
    "annotations/pixel-level/0002.mat",
    "annotations/pixel-level/0003.mat",
    "label_list.mat",
    "photos/0001.jpg",
    "photos/0002.jpg",
    "photos/0003.jpg",
]
TOP = "clothing-co-parsing-master"
CLI = REPO / "data_scripts" / "download_ccp.py"


@pytest.fixture
def sample(tmp_path):
    """An unzipped mini archive of real CCP files (plus an extra file to ignore) and its manifest."""
    if not (CCP_SOURCE / "label_list.mat").is_file():
        pytest.skip(NO_CCP)
    root = tmp_path / "unzipped" / TOP
    for rel in SAMPLE:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CCP_SOURCE / rel, root / rel)
    manifest = write_manifest(root, tmp_path / "manifest.tsv")
    (root / "samples.m").write_text("% not in the manifest\n")
    return root, manifest


def zip_bytes(root: Path, alter: str | None = None) -> bytes:
    """The folder zipped under its own name, like a GitHub archive; ``alter`` flips one byte."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                data = bytearray(path.read_bytes())
                rel = path.relative_to(root).as_posix()
                if rel == alter:
                    data[len(data) // 2] ^= 0xFF
                zf.writestr(f"{root.name}/{rel}", bytes(data))
    return buf.getvalue()


@pytest.fixture
def server():
    """A localhost HTTP server: set ``server.files[path] = bytes``; ``server.requests`` logs GETs."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            srv.requests.append(self.path)
            body = srv.files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.files, srv.requests = {}, []
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join()


def leftovers(folder: Path, dest: Path) -> list[str]:
    """Anything beside dest: temp folders or downloads that should have been cleaned up."""
    return sorted(p.name for p in folder.iterdir() if p != dest)


def test_download_extracts_verified_files(sample, server, tmp_path):
    root, manifest = sample
    server.files["/master.zip"] = zip_bytes(root)
    dest = tmp_path / "out" / "ccp"
    assert fetch_ccp(dest, url=server.url + "/master.zip", manifest=manifest, progress=False) == dest
    for rel in SAMPLE:
        assert (dest / rel).read_bytes() == (CCP_SOURCE / rel).read_bytes()
    assert not (dest / "samples.m").exists()
    assert (dest / MARKER).is_file()
    assert leftovers(dest.parent, dest) == []


def test_second_run_is_a_noop(sample, server, tmp_path, capsys):
    root, manifest = sample
    server.files["/master.zip"] = zip_bytes(root)
    dest = tmp_path / "ccp"
    fetch_ccp(dest, url=server.url + "/master.zip", manifest=manifest, progress=False)
    before = (dest / "photos/0001.jpg").stat().st_mtime_ns
    fetch_ccp(dest, url=server.url + "/master.zip", manifest=manifest, progress=True)
    assert server.requests == ["/master.zip"]
    assert (dest / "photos/0001.jpg").stat().st_mtime_ns == before
    assert "nothing to do" in capsys.readouterr().out


def test_checksum_mismatch_names_file_and_cleans_up(sample, server, tmp_path):
    root, manifest = sample
    server.files["/master.zip"] = zip_bytes(root, alter="photos/0002.jpg")
    dest = tmp_path / "out" / "ccp"
    with pytest.raises(DatasetError, match=r"photos/0002\.jpg.*expected.*got.*run again to re-download"):
        fetch_ccp(dest, url=server.url + "/master.zip", manifest=manifest, progress=False)
    assert not dest.exists()
    assert leftovers(dest.parent, dest) == []  # the bad zip went with the temp folder


@pytest.mark.parametrize("path", ["/missing.zip", None], ids=["404", "closed-port"])
def test_network_failure_says_how_to_fix(sample, server, tmp_path, path):
    _, manifest = sample
    if path is None:
        with socket.socket() as s:  # a port nobody listens on once closed
            s.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{s.getsockname()[1]}/master.zip"
    else:
        url = server.url + path
    dest = tmp_path / "out" / "ccp"
    with pytest.raises(DatasetError, match="(?i)check your connection") as err:
        fetch_ccp(dest, url=url, manifest=manifest, progress=False)
    assert url in str(err.value) and "--source DIR" in str(err.value)
    assert not dest.exists() and leftovers(dest.parent, dest) == []


def test_corrupt_zip_leaves_nothing_behind(sample, server, tmp_path):
    root, manifest = sample
    server.files["/master.zip"] = zip_bytes(root)[:-5000]  # cut off the central directory
    dest = tmp_path / "out" / "ccp"
    with pytest.raises(DatasetError, match="not a readable zip"):
        fetch_ccp(dest, url=server.url + "/master.zip", manifest=manifest, progress=False)
    assert not dest.exists() and leftovers(dest.parent, dest) == []


@pytest.mark.parametrize("layout", ["dataset-folder", "unzipped-archive", "zip-file"])
def test_local_source(sample, tmp_path, layout):
    root, manifest = sample
    source = {"dataset-folder": root, "unzipped-archive": root.parent, "zip-file": tmp_path / "master.zip"}[layout]
    (tmp_path / "master.zip").write_bytes(zip_bytes(root))
    dest = tmp_path / "out" / "ccp"
    fetch_ccp(dest, source=source, manifest=manifest, progress=False)
    assert all((dest / rel).read_bytes() == (root / rel).read_bytes() for rel in SAMPLE)
    assert leftovers(dest.parent, dest) == []


def test_local_source_missing_file(sample, tmp_path):
    root, manifest = sample
    (root / "annotations/pixel-level/0002.mat").unlink()
    dest = tmp_path / "out" / "ccp"
    with pytest.raises(DatasetError, match=r"1 of 9 CCP files are missing from .*annotations/pixel-level/0002\.mat"):
        fetch_ccp(dest, source=root, manifest=manifest, progress=False)
    assert not dest.exists()


def test_local_source_truncated_file_leaves_nothing_behind(sample, tmp_path):
    root, manifest = sample
    photo = root / "photos/0003.jpg"
    photo.write_bytes(photo.read_bytes()[:100])
    dest = tmp_path / "out" / "ccp"
    with pytest.raises(DatasetError, match=r"photos/0003\.jpg.*expected size \d+.*got size 100"):
        fetch_ccp(dest, source=root, manifest=manifest, progress=False)
    assert not dest.exists() and leftovers(dest.parent, dest) == []


def test_wrong_folder_says_what_was_expected_and_suggests_subfolder(sample, tmp_path):
    root, manifest = sample
    holder = tmp_path / "downloads"
    shutil.copytree(root, holder / "ccp-copy")
    with pytest.raises(DatasetError, match=r"photos/, annotations/ and label_list\.mat.*--source .*ccp-copy"):
        fetch_ccp(tmp_path / "ccp", source=holder, manifest=manifest, progress=False)
    with pytest.raises(DatasetError, match="does not exist"):
        fetch_ccp(tmp_path / "ccp", source=tmp_path / "nowhere", manifest=manifest, progress=False)
    assert not (tmp_path / "ccp").exists()


def test_source_equal_to_dest_is_refused(sample, tmp_path):
    root, manifest = sample
    with pytest.raises(DatasetError, match="same folder"):
        fetch_ccp(root, source=root.parent, manifest=manifest, progress=False)
    assert (root / "photos/0001.jpg").is_file()


def test_existing_unverified_dest_is_left_alone(sample, tmp_path):
    root, manifest = sample
    dest = tmp_path / "ccp"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="Remove it"):
        fetch_ccp(dest, source=root, manifest=manifest, progress=False)
    assert [p.name for p in dest.iterdir()] == ["notes.txt"]


def test_empty_dest_folder_is_filled(sample, tmp_path):
    root, manifest = sample
    (tmp_path / "ccp").mkdir()
    fetch_ccp(tmp_path / "ccp", source=root, manifest=manifest, progress=False)
    assert (tmp_path / "ccp" / MARKER).is_file()


@needs_ccp
def test_cli_copies_full_dataset_then_does_nothing(tmp_path, capsys):
    main = runpy.run_path(str(CLI))["main"]  # in-process: a subprocess would re-import torch
    args = ["--source", str(CCP_SOURCE), "--dest", str(tmp_path / "ccp")]
    assert main([*args, "--quiet"]) == 0
    assert f"export CLOTHLIB_DATA={tmp_path / 'ccp'}" in capsys.readouterr().out
    assert len(list((tmp_path / "ccp" / "photos").iterdir())) == 2098
    assert main(args) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert main([*args, "--verify"]) == 0
    assert f"all {len(read_manifest())} files match their sha256" in capsys.readouterr().out


def test_cli_reports_errors_without_traceback(tmp_path):
    result = subprocess.run([sys.executable, str(CLI), "--source", str(tmp_path), "--dest", str(tmp_path / "ccp")],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "does not look like the CCP dataset" in result.stderr and "Traceback" not in result.stderr


def test_committed_manifest_covers_the_dataset():
    paths = [e.path for e in read_manifest()]
    assert paths == sorted(paths)
    assert sum(p.startswith("photos/") and p.endswith(".jpg") for p in paths) == 2098
    assert sum(p.startswith("annotations/pixel-level/") for p in paths) == 1004
    assert sum(p.startswith("annotations/image-level/") for p in paths) == 1094
    assert "label_list.mat" in paths


def test_verify_finds_flipped_bytes_the_size_check_misses_and_repairs_them(sample, server, tmp_path, capsys):
    """The bug: eight flipped bytes in a CCP photo passed ('already verified': sizes only)."""
    root, manifest = sample
    server.files["/master.zip"] = zip_bytes(root)
    dest = tmp_path / "out" / "ccp"
    url = server.url + "/master.zip"
    fetch_ccp(dest, url=url, manifest=manifest, progress=False)
    photo = dest / "photos/0002.jpg"
    data = bytearray(photo.read_bytes())
    data[1000:1008] = bytes(b ^ 0xFF for b in data[1000:1008])
    photo.write_bytes(bytes(data))
    fetch_ccp(dest, url=url, manifest=manifest, progress=True)
    assert "nothing to do" in capsys.readouterr().out and photo.read_bytes() == bytes(data), "the quick check"
    (dest / "annotations/pixel-level/0003.mat").unlink()
    with pytest.raises(DatasetError, match="missing files.*download_ccp.py --verify"):
        fetch_ccp(dest, url=url, manifest=manifest, progress=False)
    fetch_ccp(dest, url=url, manifest=manifest, progress=True, verify=True)
    out = capsys.readouterr().out
    assert "2 damaged or missing files (photos/0002.jpg, annotations/pixel-level/0003.mat" in out or \
        "2 damaged or missing files (annotations/pixel-level/0003.mat, photos/0002.jpg" in out
    assert all((dest / rel).read_bytes() == (root / rel).read_bytes() for rel in SAMPLE)
    assert leftovers(dest.parent, dest) == []
    fetch_ccp(dest, source=root, manifest=manifest, progress=True, verify=True)
    assert "all 9 files match their sha256" in capsys.readouterr().out
