"""Fetch the Clothing Co-Parsing (CCP) dataset into ``settings.data_root`` and verify every file.

The data comes from the GitHub archive of bearpaw/clothing-co-parsing, or from a local copy
(``source=``: the dataset folder, a folder holding the unzipped ``clothing-co-parsing-master/``,
or the downloaded ``.zip`` itself). GitHub re-creates archives on demand, so the zip's own hash
is not stable; instead each needed file is checked against ``ccp_manifest.tsv`` (path, size,
sha256). Files are staged in a temporary folder beside ``dest`` and moved into place in one
``os.replace``, so ``dest`` is either absent or a complete, verified copy; a killed run's staging
folder is swept by the next run, and a second download into the same ``dest`` waits for the first
(then finds its copy verified).

Maintainers regenerate the manifest from a trusted copy with
``python data_scripts/download_ccp.py --write-manifest DIR``.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..config import progress_bar, settings
from ..io import atomic_write, exclusive, sha256_file, staging_folder
from .ccp import DOWNLOAD_COMMAND

DEFAULT_URL = "https://github.com/bearpaw/clothing-co-parsing/archive/refs/heads/master.zip"
MANIFEST_PATH = Path(__file__).with_name("ccp_manifest.tsv")
MARKER = ".clothlib-verified"
ARCHIVE_TOP = "clothing-co-parsing-master"
NEEDED_PATTERNS = (
    "photos/*.jpg",
    "annotations/pixel-level/*.mat",
    "annotations/image-level/*.mat",
    "label_list.mat",
    "LICENSE",
    "README.md",
)
_CCP_SIGNS = ("annotations", "label_list.mat")  # photos/ alone is too common a folder name
_CHUNK = 1 << 20
_HEADER = "path\tsize\tsha256"


class DatasetError(RuntimeError):
    """The dataset could not be fetched or verified; the message says why and how to fix it."""


@dataclass(frozen=True)
class ManifestEntry:
    path: str  # POSIX path relative to the dataset root
    size: int
    sha256: str


def read_manifest(manifest: str | os.PathLike | None = None) -> list[ManifestEntry]:
    """The manifest rows, in file order (sorted by path)."""
    lines = Path(manifest or MANIFEST_PATH).read_text(encoding="utf-8").splitlines()
    if not lines or lines[0] != _HEADER:
        raise DatasetError(f"{manifest or MANIFEST_PATH} is not a CCP manifest (expected header {_HEADER!r}).")
    entries = []
    for line in lines[1:]:
        path, size, sha = line.split("\t")
        entries.append(ManifestEntry(path, int(size), sha))
    return entries


def write_manifest(src: str | os.PathLike, out: str | os.PathLike = MANIFEST_PATH) -> Path:
    """Hash the needed files of a trusted copy at ``src`` into a manifest at ``out``."""
    src = Path(src)
    paths = sorted({p.relative_to(src).as_posix() for pattern in NEEDED_PATTERNS for p in src.glob(pattern)})
    if not paths:
        raise DatasetError(f"No CCP files under {src}; expected {', '.join(NEEDED_PATTERNS)}.")
    rows = [_HEADER]
    for rel in paths:
        with open(src / rel, "rb") as f:
            size, sha = _copy_hashing(f, None)
        rows.append(f"{rel}\t{size}\t{sha}")
    with atomic_write(out) as f:
        f.write("\n".join(rows) + "\n")
    return Path(out)


def fetch_ccp(
    dest: str | os.PathLike | None = None,
    *,
    source: str | os.PathLike | None = None,
    url: str = DEFAULT_URL,
    manifest: str | os.PathLike | None = None,
    progress: bool = True,
    verify: bool = False,
) -> Path:
    """Make ``dest`` (default ``settings.data_root``) a verified CCP copy and return it.

    Downloads ``url`` unless ``source`` names a local copy; every file is checked against its sha256
    as it is written. A ``dest`` already verified against the same manifest is left alone (sizes
    checked only), so calling this at the top of every notebook is cheap. ``verify`` checks every
    file of such a copy against its sha256 again and fetches the bad or missing ones anew (a flipped
    byte in a photo passed the size check).
    """
    dest = Path(dest or settings.data_root).expanduser().resolve()
    manifest = Path(manifest or MANIFEST_PATH)
    entries = read_manifest(manifest)
    stamp = hashlib.sha256(manifest.read_bytes()).hexdigest()
    if verify and _marker(dest) == stamp:
        with exclusive(dest, f"Another download into {dest} is running; waiting for it to finish." if progress else ""):
            _repair(dest, source, url, entries, progress)
        return dest
    if _is_verified(dest, entries, stamp):
        _say(progress, f"CCP dataset already verified at {dest}; nothing to do.")
        return dest
    waiting = f"Another download into {dest} is running; waiting for it to finish." if progress else ""
    with exclusive(dest, waiting):
        if _is_verified(dest, entries, stamp):  # that other download made it
            _say(progress, f"CCP dataset verified at {dest} by the download that ran meanwhile; nothing to do.")
            return dest
        _fetch(dest, source, url, entries, stamp, progress)
    _say(progress, f"CCP dataset ready at {dest} ({len(entries)} files verified).")
    return dest


def _fetch(dest: Path, source: str | os.PathLike | None, url: str, entries: list[ManifestEntry], stamp: str,
           progress: bool) -> None:
    """Stage a verified copy beside ``dest`` (in a folder swept by the next run if this one is killed)
    and move it into place."""
    source = _resolve_source(source, dest)
    _check_dest_free(dest)
    work = staging_folder(dest)
    try:
        tree = work / "ccp"
        tree.mkdir()
        _fill(tree, source, url, entries, progress, work)
        (tree / MARKER).write_text(stamp + "\n", encoding="utf-8")
        if dest.is_dir():  # an empty folder (checked above); Windows cannot rename onto it
            dest.rmdir()
        os.replace(tree, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _resolve_source(source: str | os.PathLike | None, dest: Path) -> Path | None:
    """``--source`` as the dataset folder or zip to read (None: download), never ``dest`` itself."""
    if source is None:
        return None
    source = Path(source).expanduser().resolve()
    if not zipfile.is_zipfile(source):
        source = _find_root(source)
    if source == dest:
        raise DatasetError(
            f"--source and --dest are the same folder, {dest}. Use it as it is "
            f"(export CLOTHLIB_DATA={dest}) or copy it elsewhere with another --dest."
        )
    return source


def _fill(tree: Path, source: Path | None, url: str, entries: list[ManifestEntry], progress: bool,
          work: Path) -> None:
    """Write ``entries`` into ``tree``, each verified, from ``source`` or a download into ``work``."""
    if source is None:
        _extract(_download(url, work, progress), tree, entries, progress, downloaded_from=url)
    elif source.is_dir():
        _copy_tree(source, tree, entries, progress)
    else:
        _extract(source, tree, entries, progress)


def _repair(dest: Path, source: str | os.PathLike | None, url: str, entries: list[ManifestEntry],
            progress: bool) -> None:
    """Hash every file of the copy at ``dest``; fetch those missing or not matching the manifest
    into a staging folder (verified as usual) and move each over its bad copy."""
    with _bar(entries, progress, "Verifying CCP") as bar:
        bad = []
        for entry in entries:
            path = dest / entry.path
            if not path.is_file() or path.stat().st_size != entry.size or sha256_file(path) != entry.sha256:
                bad.append(entry)
            bar.update(entry.size)
    if not bad:
        _say(progress, f"CCP dataset at {dest}: all {len(entries)} files match their sha256.")
        return
    shown = ", ".join(e.path for e in bad[:5]) + (", ..." if len(bad) > 5 else "")
    _say(progress, f"CCP dataset at {dest}: {len(bad)} damaged or missing files ({shown}); fetching them again.")
    source = _resolve_source(source, dest)
    work = staging_folder(dest)
    try:
        tree = work / "ccp"
        tree.mkdir()
        _fill(tree, source, url, bad, progress, work)
        for entry in bad:
            (dest / entry.path).parent.mkdir(parents=True, exist_ok=True)
            os.replace(tree / entry.path, dest / entry.path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _say(progress, f"CCP dataset at {dest}: {len(bad)} files repaired and verified.")


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message)


def _marker(dest: Path) -> str | None:
    """The manifest stamp a verified copy at ``dest`` was made against, or None."""
    try:
        return (dest / MARKER).read_text(encoding="utf-8").strip()
    except OSError:
        return None


def _is_verified(dest: Path, entries: list[ManifestEntry], stamp: str) -> bool:
    """Marker matches this manifest and every file is there with its size (no hashing: fast;
    ``fetch_ccp(verify=True)`` hashes)."""
    try:
        return _marker(dest) == stamp and all((dest / e.path).stat().st_size == e.size for e in entries)
    except OSError:
        return False


def _check_dest_free(dest: Path) -> None:
    """Refuse to overwrite anything that is not an empty folder: it may be the user's data."""
    if not dest.exists() or (dest.is_dir() and not any(dest.iterdir())):
        return
    what, repair = "is not a verified CCP copy", ""
    if (dest / MARKER).exists():
        what = "holds a CCP copy with missing files, or one verified against another manifest"
        repair = f" (a copy with missing or damaged files: `{DOWNLOAD_COMMAND} --verify` fetches those again)"
    raise DatasetError(
        f"{dest} already exists and {what}. Nothing was changed. Remove it "
        f"(or move it aside) and run again{repair}, or pick another destination with --dest / CLOTHLIB_DATA."
    )


def _download(url: str, folder: Path, progress: bool) -> Path:
    """Download the archive with pooch; no known hash, because GitHub archives are not byte-stable."""
    import pooch
    import requests

    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)  # pooch would otherwise advise pinning the unstable zip hash
    try:
        return Path(pooch.retrieve(url, known_hash=None, fname="ccp.zip", path=folder, progressbar=progress))
    except (requests.RequestException, OSError) as exc:
        raise DatasetError(
            f"Could not download the CCP archive from {url}: {exc}. Check your connection, or "
            "download the archive by hand, unzip it and run "
            "`python data_scripts/download_ccp.py --source DIR` (DIR may also be the .zip itself)."
        ) from exc
    finally:
        logger.setLevel(level)


def _extract(archive: Path, tree: Path, entries: list[ManifestEntry], progress: bool,
             downloaded_from: str = "") -> None:
    """Extract only manifest files (so nothing can land outside ``tree``), verifying each."""
    where = f"the archive downloaded from {downloaded_from}" if downloaded_from else str(archive)
    try:
        with zipfile.ZipFile(archive) as zf:
            members = _archive_members(zf.namelist())
            _check_complete(entries, members, where)
            with _bar(entries, progress, "Extracting CCP") as bar:
                for entry in entries:
                    with zf.open(members[entry.path]) as f:
                        _write_verified(f, tree, entry, where, downloaded_from)
                    bar.update(entry.size)
    except (zipfile.BadZipFile, EOFError) as exc:
        raise DatasetError(
            f"{where} is not a readable zip ({exc}). "
            + ("The download was removed; run again to re-download." if downloaded_from else "Download it again.")
        ) from exc


def _archive_members(names: list[str]) -> dict[str, str]:
    """Map dataset paths to zip member names, whatever folder (if any) the dataset sits in."""
    labels = [n for n in names if n.rsplit("/", 1)[-1] == "label_list.mat"]
    top = min(labels, key=len)[: -len("label_list.mat")] if labels else ""
    return {n[len(top):]: n for n in names if n.startswith(top) and not n.endswith("/")}


def _find_root(source: Path) -> Path:
    """The dataset folder itself, or the unzipped ``clothing-co-parsing-master/`` inside it."""
    if not source.is_dir():
        raise DatasetError(f"--source {source} does not exist or is neither a folder nor a zip file.")
    for candidate in (source, source / ARCHIVE_TOP):
        if any((candidate / sign).exists() for sign in _CCP_SIGNS):
            return candidate
    nearby = [p.parent for p in [*source.glob("*/label_list.mat"), *source.glob("*/*/label_list.mat")]]
    hint = f" Did you mean --source {nearby[0]}?" if nearby else ""
    raise DatasetError(
        f"{source} does not look like the CCP dataset: expected photos/, annotations/ and "
        f"label_list.mat in it (or in {ARCHIVE_TOP}/ inside it).{hint}"
    )


def _copy_tree(root: Path, tree: Path, entries: list[ManifestEntry], progress: bool) -> None:
    present = {e.path for e in entries if (root / e.path).is_file()}
    _check_complete(entries, present, str(root))
    with _bar(entries, progress, "Copying CCP") as bar:
        for entry in entries:
            with open(root / entry.path, "rb") as f:
                _write_verified(f, tree, entry, str(root))
            bar.update(entry.size)


def _check_complete(entries: list[ManifestEntry], present: Iterable[str], where: str) -> None:
    present = set(present)
    missing = [e.path for e in entries if e.path not in present]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise DatasetError(
            f"{len(missing)} of {len(entries)} CCP files are missing from {where}: {shown}. "
            f"Use a complete copy of the archive ({DEFAULT_URL})."
        )


def _write_verified(src: BinaryIO, tree: Path, entry: ManifestEntry, where: str, downloaded_from: str = "") -> None:
    out = tree / entry.path
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as f:
        size, sha = _copy_hashing(src, f)
    if (size, sha) == (entry.size, entry.sha256):
        return
    got = f"size {size}, sha256 {sha}"
    fix = (
        "The download was removed; run again to re-download. If it fails again, the upstream "
        "archive has changed: report it to the course maintainers."
        if downloaded_from
        else "Replace that file with a fresh copy from the archive."
    )
    raise DatasetError(
        f"{entry.path} from {where} is corrupt: expected size {entry.size}, sha256 {entry.sha256}; got {got}. {fix}"
    )


def _copy_hashing(src: BinaryIO, dst: BinaryIO | None) -> tuple[int, str]:
    """Size and sha256 of ``src``, copying it to ``dst`` in the same pass."""
    sha, size = hashlib.sha256(), 0
    while chunk := src.read(_CHUNK):
        sha.update(chunk)
        size += len(chunk)
        if dst is not None:
            dst.write(chunk)
    return size, sha.hexdigest()


def _bar(entries: list[ManifestEntry], enabled: bool, desc: str):
    """A progress bar counting bytes, so one big photo and one small .mat weigh fairly."""
    return progress_bar(total=sum(e.size for e in entries), enabled=enabled, unit="B", unit_scale=True, desc=desc)
