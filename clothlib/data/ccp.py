"""Reading the Clothing Co-Parsing dataset: photos, pixel-level masks, image-level tags, labels.

Every reader checks its file and names it in the error, so a corrupt or truncated download
points at the file to restore instead of surfacing as a shape error three stages later.
"""
from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image, UnidentifiedImageError

from ..config import progress_bar, settings
from ..io import atomic_write
from .classes import lookup_table, relabel

DOWNLOAD_COMMAND = "python data_scripts/download_ccp.py"
NUM_CCP_LABELS = 59


class DatasetMissingError(FileNotFoundError):
    """The CCP folder is not where the settings say."""


class CorruptFileError(ValueError):
    """A dataset file exists but cannot be read as what it should be."""


def _root(root: str | os.PathLike | None) -> Path:
    return Path(root) if root is not None else settings.data_root


def check_dataset(root: str | os.PathLike | None = None) -> Path:
    """Return the dataset folder, or raise saying which command fetches it."""
    root = _root(root)
    needed = [root / "photos", root / "annotations" / "pixel-level",
              root / "annotations" / "image-level", root / "label_list.mat"]
    missing = [str(p.relative_to(root)) for p in needed if not p.exists()]
    if missing:
        raise DatasetMissingError(
            f"CCP dataset not found at {root} (missing: {', '.join(missing)}). "
            f"Fetch it with `{DOWNLOAD_COMMAND}` (or `make data`), or point CLOTHLIB_DATA at an "
            "existing copy and restart the kernel."
        )
    return root


def _ids(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.mat"))


def annotated_ids(root: str | os.PathLike | None = None) -> list[str]:
    """Photo ids ("0001".."1004") that have a pixel-level mask."""
    return _ids(check_dataset(root) / "annotations" / "pixel-level")


def tagged_ids(root: str | os.PathLike | None = None) -> list[str]:
    """Photo ids ("1005".."2098") that have only image-level tags."""
    return _ids(check_dataset(root) / "annotations" / "image-level")


def _restore_hint(path: Path) -> str:
    return (f"Restore the dataset: remove {settings.data_root} (or the folder holding {path.name}) "
            f"and run `{DOWNLOAD_COMMAND}` again.")


def _load_mat(path: Path, key: str) -> np.ndarray:
    if not path.exists():
        raise DatasetMissingError(f"{path} is missing. {_restore_hint(path)}")
    try:
        value = scipy.io.loadmat(str(path))[key]
    except Exception as err:  # scipy raises many types for damaged files
        raise CorruptFileError(
            f"{path} is not a readable .mat file with '{key}' ({type(err).__name__}: {err}). "
            + _restore_hint(path)
        ) from err
    return value


@functools.lru_cache(maxsize=4)
def _label_names(root: Path) -> tuple[str, ...]:
    cells = _load_mat(root / "label_list.mat", "label_list").ravel()
    names = tuple(str(c[0]) if len(c) else "" for c in cells)
    if len(names) != NUM_CCP_LABELS:
        raise CorruptFileError(f"{root / 'label_list.mat'} holds {len(names)} labels, expected {NUM_CCP_LABELS}.")
    return names


def label_names(root: str | os.PathLike | None = None) -> list[str]:
    """The 59 CCP label names in index order (0 = "null")."""
    return list(_label_names(check_dataset(root)))


def class_lookup(root: str | os.PathLike | None = None) -> np.ndarray:
    """The 59 -> 13 lookup table for this copy of the dataset."""
    return lookup_table(label_names(root))


def read_photo(photo_id: str, root: str | os.PathLike | None = None) -> np.ndarray:
    """The photo as an H x W x 3 uint8 RGB array."""
    path = check_dataset(root) / "photos" / f"{photo_id}.jpg"
    if not path.exists():
        raise DatasetMissingError(f"{path} is missing. {_restore_hint(path)}")
    try:
        with Image.open(path) as im:
            return np.array(im.convert("RGB"))
    except (OSError, UnidentifiedImageError) as err:
        raise CorruptFileError(
            f"{path} is not a readable JPEG ({err}). {_restore_hint(path)}"
        ) from err


def _mask_cache_path(mat: Path) -> Path:
    """The cache entry of the mask decoded from ``mat``, named by the .mat file's resolved path, size
    and modification time: two copies of the dataset (``CLOTHLIB_DATA`` switched, one cache folder)
    never share an entry, and a replaced .mat file gets a fresh one."""
    stat = mat.stat()
    key = hashlib.sha256(f"{mat.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return settings.cache_dir / "groundtruth" / f"{mat.stem}-{key}.npy"


def _cached_mask(cached: Path, photo: Path) -> np.ndarray | None:
    """The cached mask if it is a whole 2-D uint8 label array of its photo's size; None (rebuild it)
    for an absent, unreadable, truncated or wrong-sized entry."""
    try:
        mask = np.load(cached)
        with Image.open(photo) as im:
            size = (im.height, im.width)
    except (OSError, ValueError, EOFError):
        return None
    if mask.shape != size or mask.dtype != np.uint8 or mask.max(initial=0) >= NUM_CCP_LABELS:
        return None
    return mask


def read_groundtruth(photo_id: str, root: str | os.PathLike | None = None, cache: bool = True) -> np.ndarray:
    """The pixel-level CCP labels (H x W uint8, 0..58).

    Decoded masks are cached as .npy (a few times faster than parsing .mat) so training epochs do
    not re-parse the .mat files; an entry is keyed by its .mat file (:func:`_mask_cache_path`) and
    checked on reading: one that is unreadable or not of its photo's size is rebuilt.
    """
    folder = check_dataset(root)
    path = folder / "annotations" / "pixel-level" / f"{photo_id}.mat"
    cached = _mask_cache_path(path) if cache and root is None and path.exists() else None
    if cached is not None:
        mask = _cached_mask(cached, folder / "photos" / f"{photo_id}.jpg")
        if mask is not None:
            return mask
    mask = _load_mat(path, "groundtruth")
    if mask.ndim != 2 or mask.dtype != np.uint8 or mask.max() >= NUM_CCP_LABELS:
        raise CorruptFileError(
            f"{path}: 'groundtruth' should be a 2-D uint8 array of labels 0..58, got "
            f"{mask.dtype} {mask.shape} with max {mask.max()}. {_restore_hint(path)}"
        )
    if cached is not None:
        with atomic_write(cached, "wb") as f:
            np.save(f, mask)
    return mask


def read_class_mask(photo_id: str, root: str | os.PathLike | None = None) -> np.ndarray:
    """The pixel-level mask relabelled to the 13 classes (H x W uint8, 0..12)."""
    return relabel(read_groundtruth(photo_id, root), class_lookup(root))


def read_tags(photo_id: str, root: str | os.PathLike | None = None) -> np.ndarray:
    """The image-level CCP label indices of a tag-only photo (sorted, unique)."""
    path = check_dataset(root) / "annotations" / "image-level" / f"{photo_id}.mat"
    tags = _load_mat(path, "tags")
    if tags.size and tags.max() >= NUM_CCP_LABELS:
        raise CorruptFileError(f"{path}: tag {tags.max()} is outside 0..58. {_restore_hint(path)}")
    return np.unique(tags.astype(np.int64).ravel())


def label_counts(photo_ids: list[str], root: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per CCP label: pixels over ``photo_ids`` and photos containing it (two int64 arrays of 59)."""

    pixels = np.zeros(NUM_CCP_LABELS, dtype=np.int64)
    photos = np.zeros(NUM_CCP_LABELS, dtype=np.int64)
    for photo_id in progress_bar(photo_ids, desc="counting labels", leave=False):
        counts = np.bincount(read_groundtruth(photo_id, root).ravel(), minlength=NUM_CCP_LABELS)
        pixels += counts
        photos += counts > 0
    return pixels, photos


def tag_counts(photo_ids: list[str], root: str | os.PathLike | None = None) -> np.ndarray:
    """Per CCP label: how many of the tag-only ``photo_ids`` carry it."""
    counts = np.zeros(NUM_CCP_LABELS, dtype=np.int64)
    for photo_id in photo_ids:
        counts[read_tags(photo_id, root)] += 1
    return counts
