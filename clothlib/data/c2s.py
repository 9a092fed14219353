"""Building the consumer-to-shop set (paper §3.1): garment items cut out of CCP street photos by their boxes.

One **item** is one garment of one photo (:mod:`clothlib.data.garments`: its region, box and two
views: the *consumer* view, the street-photo crop of its box, and the *shop* view, the garment alone
on white), an instance ID and a similar-item ID (:mod:`clothlib.data.pairs`), and single-valued
attributes from one table (:mod:`clothlib.data.attributes`), each with an explicit "n/a" so the
hashing heads can size themselves from it. The paper only says that boxes are recorded and items
organised so that "items under one ID are similar"; everything else here is the course's choice,
written down where it is made. This module builds the set (from ground truth, and from the tag-only
photos' predicted class maps) and reads a built one back.

Output folder (default ``data/c2s``): ``manifest.csv`` (one row per item), ``meta.json`` (config,
counts, attribute values), ``consumer/<item id>.jpg`` and ``shop/<item id>.jpg``.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import shutil
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..config import progress_bar, settings
from ..foundation import __version__
from ..io import die_with_parent, exclusive, staging_folder
from .attributes import (
    ATTRIBUTE_VALUES,
    AttributeConfig,
    colour_attributes,
    fine_category,
    garment_pixels,
    length_value,
    relative_length,
)
from .ccp import annotated_ids, class_lookup, label_names, read_groundtruth, read_photo, read_tags, tagged_ids
from .classes import CLASS_GROUPS, CLASSES, GARMENT_CLASSES, relabel
from .garments import GarmentConfig, box_of, consumer_view, drop_specks, garment_regions, item_rng, shop_view
from .pairs import similar_id
from .splits import SPLITS, load_split

BUILD_COMMAND = "python data_scripts/build_c2s.py"
PREDICT_COMMAND = ("python -m clothlib.parsing predict --checkpoint checkpoints/effnet_fcn.pt --crf "
                   "--split tagged --out data/predictions/tagged")
BUILD_VERSION = 1  # bump when the same config would give different files


@dataclass(frozen=True)
class C2SConfig(AttributeConfig, GarmentConfig):
    """Every parameter of a build: how garments are cut and drawn (:class:`~clothlib.data.garments.GarmentConfig`),
    how their attributes are read (:class:`~clothlib.data.attributes.AttributeConfig`), and how the
    views are saved. One flat set of fields, in that order; ``asdict()`` (with the photos it was
    built from) is stored in ``meta.json`` and is what "already built" compares, so no parameter can
    leave a stale build."""

    jpeg_quality: int = 95

    def __post_init__(self):
        GarmentConfig.__post_init__(self)
        AttributeConfig.__post_init__(self)
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError("jpeg_quality in 1..100")


DEFAULT_CONFIG = C2SConfig()
COLUMNS = ["item_id", "photo_id", "split", "source", "x0", "y0", "x1", "y1", "consumer", "shop",
           "instance_id", "similar_id", *ATTRIBUTE_VALUES, "area", "colour_share", "relative_length"]
_INT_COLUMNS = ("x0", "y0", "x1", "y1")
_FLOAT_COLUMNS = ("area", "colour_share", "relative_length")


class C2SMissingError(FileNotFoundError):
    """No built consumer-to-shop set where one was asked for."""


def default_folder() -> Path:
    """``data/c2s`` beside the CCP folder; where that folder cannot be written (a class sharing one
    read-only copy of the dataset) and holds no build, ``c2s`` in the cache folder (``CLOTHLIB_CACHE``)."""
    beside = settings.data_root.parent / "c2s"
    if (beside / "meta.json").exists() or os.access(settings.data_root.parent, os.W_OK):
        return beside
    return settings.cache_dir / "c2s"


def default_predictions() -> Path:
    """``data/predictions/tagged``: where ``PREDICT_COMMAND`` writes the tag-only photos' class maps."""
    return settings.data_root.parent / "predictions" / "tagged"


def course_set(progress: bool = True) -> Path:
    """The set the notebooks use, built on first use (later calls return at once): in fast mode the
    first ``fast_photos`` photos into the cache folder, else every annotated photo into
    ``data/c2s``; with the pseudo-labelled photos wherever their predictions have been written."""
    folder = settings.pick(settings.cache_dir / "c2s_fast", default_folder())
    predictions = default_predictions() if default_predictions().is_dir() else None
    return build_c2s(folder, predictions=predictions, max_photos=settings.pick(settings.fast_photos, None),
                     progress=progress)


def photo_items(photo_id: str, photo: np.ndarray, class_mask: np.ndarray, ccp_labels: np.ndarray | None, split: str,
                source: str, config: C2SConfig = DEFAULT_CONFIG) -> list[tuple[dict, np.ndarray, np.ndarray]]:
    """``(row, consumer view, shop view)`` for every garment region of one photo."""
    names = label_names() if ccp_labels is not None else []
    regions = garment_regions(class_mask, config)
    person = drop_specks(class_mask > 0, config.speck_fraction) if regions else None  # CCP 0536 is all background
    items = []
    for category, mask in regions.items():
        item_id = f"{photo_id}_{category}"
        box = box_of(mask)
        relative = relative_length(mask, person)
        row = {"item_id": item_id, "photo_id": photo_id, "split": split, "source": source,
               **dict(zip(_INT_COLUMNS, box)), "consumer": f"consumer/{item_id}.jpg", "shop": f"shop/{item_id}.jpg",
               "instance_id": item_id, "category": category,
               "fine_category": fine_category(ccp_labels, mask, names),
               **colour_attributes(garment_pixels(photo, mask, config), config),
               "length": length_value(category, relative, config),
               "area": round(float(mask.mean()), 6), "relative_length": round(relative, 4)}
        row["similar_id"] = similar_id(row)
        items.append((row, consumer_view(photo, box, config), shop_view(photo, mask, item_rng(item_id), config)))
    return items


def read_prediction(path: str | os.PathLike, photo: np.ndarray) -> np.ndarray:
    """A predicted class map (``<photo id>.png``, uint8 class per pixel), checked against the photo."""
    with Image.open(path) as im:
        labels = np.array(im)
    if labels.shape != photo.shape[:2] or labels.dtype != np.uint8 or labels.max() >= len(CLASSES):
        raise ValueError(f"{path}: expected a {photo.shape[:2]} uint8 map of classes 0..{len(CLASSES) - 1}, "
                         f"got {labels.dtype} {labels.shape} with max {labels.max()}")
    return labels


def tagged_classes(photo_id: str) -> set[str]:
    """Class names of a tag-only photo's image-level tags."""
    return {CLASSES[c] for c in class_lookup()[read_tags(photo_id)]}


def _build_photo(task: tuple[str, str, str, str | None, str, C2SConfig]) -> tuple[list[dict], list[str]]:
    """Worker: write one photo's views into the staging folder; return its rows and, for a
    pseudo-labelled photo, the classes rejected because its tags do not name them."""
    photo_id, split, source, prediction, staging, config = task
    photo = read_photo(photo_id)
    if prediction is None:
        ccp_labels = read_groundtruth(photo_id)
        class_mask = relabel(ccp_labels, class_lookup())
    else:
        ccp_labels, class_mask = None, read_prediction(prediction, photo)
    tags = tagged_classes(photo_id) if prediction is not None else None
    rows, rejected = [], []
    for row, consumer, shop in photo_items(photo_id, photo, class_mask, ccp_labels, split, source, config):
        if tags is not None and row["category"] not in tags:
            rejected.append(row["category"])
            continue
        for column, view in (("consumer", consumer), ("shop", shop)):
            Image.fromarray(view).save(Path(staging) / row[column], format="JPEG", quality=config.jpeg_quality)
        rows.append(row)
    return rows, rejected


def prediction_files(folder: str | os.PathLike) -> dict[str, Path]:
    """``{photo id: PNG}`` for the tag-only photos predicted in ``folder`` (other ids are ignored:
    annotated photos get their items from ground truth, and test photos must never enter training)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"No predictions folder {folder}; write one with `{PREDICT_COMMAND}`.")
    classes_json = folder / "classes.json"
    if classes_json.exists() and json.loads(classes_json.read_text())["classes"] != CLASSES:
        raise ValueError(f"{classes_json} names other classes than clothlib's table; re-run the prediction.")
    tag_only = set(tagged_ids())
    return {p.stem: p for p in sorted(folder.glob("*.png")) if p.stem in tag_only}


def _fingerprint(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def build_c2s(out: str | os.PathLike | None = None, photo_ids: list[str] | None = None,
              predictions: str | os.PathLike | None = None, max_photos: int | None = None,
              workers: int | None = None, progress: bool = True, config: C2SConfig = DEFAULT_CONFIG,
              partial_predictions: bool = False, verify: bool = False) -> Path:
    """Build the set into ``out`` (default ``data/c2s``) and return the folder.

    Items come from the ground truth of ``photo_ids`` (default: all 1,004 annotated photos), each in
    its photo's split, and, with ``predictions``, from the tag-only photos predicted there (training
    split, ``source=pseudo``, kept only where the photo's tags name the predicted class).
    ``max_photos`` keeps the first N of each list (fast mode). The build is staged beside ``out`` and
    moved into place whole; if ``out`` already holds a build of the same inputs and ``config`` (the
    key :func:`build_key` writes into ``meta.json``), nothing happens. A build running meanwhile into
    the same ``out`` is waited for (then it usually is that build). A ``predictions`` folder missing
    some of the tag-only photos (of the first ``max_photos``) is an error unless ``partial_predictions``.
    ``verify`` also reads every item image of such a build (:func:`bad_views`) and builds the set
    again if one is unreadable or not of the view size (the key in ``meta.json`` says nothing of them).
    """
    out = Path(out or default_folder()).resolve()
    photo_ids = sorted(photo_ids if photo_ids is not None else annotated_ids())[:max_photos]
    split_of = {photo_id: name for name in SPLITS for photo_id in load_split(name)}
    unknown = [photo_id for photo_id in photo_ids if photo_id not in split_of]
    if unknown:
        raise ValueError(f"photos {unknown[:5]} have no pixel-level labels; pass tag-only photos as predictions")
    predicted = _predicted(predictions, max_photos, partial_predictions) if predictions else {}
    key = build_key(config, photo_ids, list(predicted.values()))
    if _built_key(out) == key and not (verify and _reported_bad(out, config, progress)):
        return out
    with exclusive(out, waiting=f"Another build into {out} is running; waiting for it." if progress else ""):
        if _built_key(out) != key or (verify and bad_views(out, config)):  # else a build meanwhile made this set
            _build(out, key, photo_ids, split_of, predicted, workers, progress, config)
    return out


def bad_views(folder: str | os.PathLike, config: GarmentConfig = DEFAULT_CONFIG) -> list[Path]:
    """The item images of the built set in ``folder`` that are missing, do not decode or are not
    ``config.view_size`` square RGB."""
    folder = Path(folder)
    bad = []
    for row in load_manifest(folder):
        for view in ("consumer", "shop"):
            path = folder / row[view]
            try:
                with Image.open(path) as im:
                    im.load()
                    ok = im.size == (config.view_size, config.view_size) and im.mode == "RGB"
            except (OSError, ValueError):
                ok = False
            if not ok:
                bad.append(path)
    return bad


def _reported_bad(folder: Path, config: GarmentConfig, progress: bool) -> bool:
    bad = bad_views(folder, config)
    if progress:
        print(f"{folder}: {len(bad)} bad item images" + (f" (e.g. {bad[0]}); building the set again" if bad else ""))
    return bool(bad)


def _predicted(folder: str | os.PathLike, max_photos: int | None, partial: bool) -> dict[str, Path]:
    """The class maps of the first ``max_photos`` tag-only photos in ``folder``; all of them there
    unless ``partial`` (a prediction run cut short would otherwise build a smaller set without a word)."""
    found = prediction_files(folder)
    expected = tagged_ids()[:max_photos]
    missing = [photo_id for photo_id in expected if photo_id not in found]
    if missing and not partial:
        raise FileNotFoundError(
            f"{folder} holds class maps of {len(expected) - len(missing)} of the {len(expected)} tag-only photos; "
            f"{len(missing)} are missing ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}). Write them "
            f"with `{PREDICT_COMMAND}`" + (f" --max-photos {max_photos}" if max_photos else "")
            + ", or build from those there with --partial-predictions.")
    return dict(list(found.items())[:max_photos])


def _build(out: Path, key: dict, photo_ids: list[str], split_of: dict[str, str], predicted: dict[str, Path],
           workers: int | None, progress: bool, config: C2SConfig) -> None:
    """Build in a staging folder beside ``out`` (swept by the next run if this one is killed), then
    move it into place."""
    if out.exists() and any(out.iterdir()) and not (out / "meta.json").exists():
        raise FileExistsError(f"{out} exists and is not a consumer-to-shop build; nothing was changed. "
                              "Remove it or choose another --out.")

    work = staging_folder(out)
    staging = work / out.name  # made by mkdir, so it gets the usual permissions (mkdtemp's are private)
    try:
        for view in ("consumer", "shop"):
            (staging / view).mkdir(parents=True)
        tasks = [(i, split_of[i], "gt", None, str(staging), config) for i in photo_ids]
        tasks += [(i, "train", "pseudo", str(path), str(staging), config) for i, path in predicted.items()]
        rows, rejected = [], []
        for photo_rows, photo_rejected in progress_bar(_map(_build_photo, tasks, workers), progress, total=len(tasks),
                                                       desc="building c2s"):
            rows += photo_rows
            rejected += photo_rejected
        _write_manifest(staging / "manifest.csv", rows)
        meta = {"config": key, "counts": _counts(rows, rejected, len(predicted)),
                "clothlib_version": __version__, "build_command": BUILD_COMMAND,
                "attributes": ATTRIBUTE_VALUES, "columns": COLUMNS}
        (staging / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        _swap_into_place(staging, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _map(function, tasks: list, workers: int | None):
    """``map`` over worker processes (in task order, so the result does not depend on them) that end
    with this process, even when it is killed."""
    workers = min(4, os.cpu_count() or 1) if workers is None else workers
    if workers <= 1 or len(tasks) < 2:
        yield from map(function, tasks)
        return
    with ProcessPoolExecutor(max_workers=workers, initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
        yield from pool.map(function, tasks, chunksize=4)


def build_key(config: C2SConfig, photo_ids: list[str], predictions: list[Path]) -> dict:
    """What a build is made from, as ``meta.json`` stores it under ``config``: the builder's version,
    the photos, the predicted class maps' bytes, the class table and ``asdict(config)``. Equal keys,
    equal files; the hashing feature cache keys on it too."""
    key = {"build_version": BUILD_VERSION, "photos": len(photo_ids),
           "photo_ids_sha256": hashlib.sha256(" ".join(photo_ids).encode()).hexdigest(),
           "pseudo_photos": len(predictions), "predictions_sha256": _fingerprint(predictions),
           "classes": [[name, list(labels)] for name, labels, _ in CLASS_GROUPS],
           "parameters": dataclasses.asdict(config)}
    return json.loads(json.dumps(key))  # tuples -> lists, as a reloaded meta.json has them


def _built_key(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "meta.json").read_text())["config"]
    except (OSError, ValueError, KeyError):
        return None


def _swap_into_place(staging: Path, out: Path) -> None:
    """Replace ``out`` by ``staging`` with two renames: ``out`` holds the old build or the new one,
    never a mix (and is absent only between the renames)."""
    if not out.exists():
        os.replace(staging, out)
        return
    old = staging.parent / f"{out.name}.old"  # inside the build's own temporary folder
    os.replace(out, old)
    os.replace(staging, out)


def _write_manifest(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda row: row["item_id"]))


def _counts(rows: list[dict], rejected: list[str], pseudo_photos: int) -> dict:
    kept = [row["category"] for row in rows if row["source"] == "pseudo"]
    return {"items": len(rows),
            "by_split": dict(sorted(Counter(row["split"] for row in rows).items())),
            "by_source": dict(sorted(Counter(row["source"] for row in rows).items())),
            "by_category": {c: n for c in GARMENT_CLASSES if (n := sum(row["category"] == c for row in rows))},
            "pseudo": {"photos": pseudo_photos, "kept": len(kept), "rejected": len(rejected),
                       "kept_by_category": dict(sorted(Counter(kept).items())),
                       "rejected_by_category": dict(sorted(Counter(rejected).items()))}}


def _built_file(folder: str | os.PathLike | None, name: str) -> Path:
    path = Path(folder or default_folder()) / name
    if not path.exists():
        raise C2SMissingError(f"No consumer-to-shop set at {path.parent} (missing {name}). Build it with "
                              f"`{BUILD_COMMAND}` (or clothlib.data.c2s.build_c2s()).")
    return path


def load_manifest(folder: str | os.PathLike | None = None) -> list[dict]:
    """The items of a built set as dicts (box and measurements as numbers, paths relative to ``folder``)."""
    with open(_built_file(folder, "manifest.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row.update({k: int(row[k]) for k in _INT_COLUMNS})
        row.update({k: float(row[k]) for k in _FLOAT_COLUMNS})
    return rows


def load_meta(folder: str | os.PathLike | None = None) -> dict:
    """``meta.json`` of a built set: config, counts, attribute values."""
    return json.loads(_built_file(folder, "meta.json").read_text())
