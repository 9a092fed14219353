"""The consumer-to-shop set (paper §3.1): garment items cut out of CCP street photos by their boxes.

One **item** is all pixels of one garment class in one photo (a pair of shoes is one item). Each item
has two views: a *consumer* view (the street-photo crop of its box, body and background included) and
a *shop* view (the garment alone on white, with seeded catalogue transforms), an instance ID, a
similar-item ID, and single-valued attributes from one table (:mod:`clothlib.data.attributes`), each with an
explicit "n/a" so the hashing heads can size themselves from it. The paper only says that boxes are
recorded and items organised so that "items under one ID are similar"; everything else here is the
course's choice, written down where it is made.

Output folder (default ``data/c2s``): ``manifest.csv`` (one row per item), ``meta.json`` (config,
counts, attribute values), ``consumer/<item id>.jpg`` and ``shop/<item id>.jpg``.
"""
from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import json
import os
import shutil
import tempfile
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from ..config import progress_bar, settings
from .attributes import ATTRIBUTE_VALUES, COLOUR_NAMES, COLOURS, LENGTH_CUTS, NA, SOLID_SHARE, TONE_CUTS
from .ccp import annotated_ids, class_lookup, label_names, read_groundtruth, read_photo, read_tags, tagged_ids
from .classes import CLASS_GROUPS, CLASSES, GARMENT_CLASSES, relabel
from .splits import SPLITS, load_split

BUILD_COMMAND = "python data_scripts/build_c2s.py"
PREDICT_COMMAND = ("python -m clothlib.parsing predict --checkpoint checkpoints/effnet_fcn.pt --crf "
                   "--split tagged --out data/predictions/tagged")
BUILD_VERSION = 1  # bump when the same config would give different files


@dataclass(frozen=True)
class C2SConfig:
    """Every parameter of a build. ``asdict()`` (with the photos it was built from) is stored in
    ``meta.json`` and is what "already built" compares, so no parameter can leave a stale build.

    The attribute cut points default to :mod:`clothlib.data.attributes`, the table the hashing
    heads are sized from; the colour names must stay the table's (the swatches may move).
    """

    view_size: int = 128  # both views are view_size x view_size RGB
    min_area_fraction: float = 0.002  # of the photo: ~900 px, a 30 x 30 patch in a 550 x 830 CCP photo
    speck_fraction: float = 0.05  # connected pieces under this share of an item are label specks, not garment
    one_object_classes: tuple[str, ...] = ("accessories",)  # classes that merge objects worn apart (a hat and a belt)
    consumer_margin: float = 0.1  # context on each side of the box, as a share of its long side
    outside_grey: int = 127  # consumer-view pixels beyond the photo's edge
    shop_fill: tuple[float, float] = (0.75, 0.95)  # share of the shop canvas the garment's long side takes
    shop_max_rotation: float = 8.0  # degrees
    shop_exposure: tuple[float, float] = (0.9, 1.1)  # brightness gain after white balance
    shop_flip_probability: float = 0.5  # mirror the shop view: catalogue photos face either way
    white_balance_limits: tuple[float, float] = (0.8, 1.25)  # gray-world gains are clipped: never recolour
    erosion: int = 2  # px shaved off the mask before reading colours: edges bleed skin and background
    min_eroded_pixels: int = 50  # a thinner garment is read whole rather than eroded to nothing
    colour_weights: tuple[float, float, float] = (0.5, 1.0, 1.0)  # L*, a*, b* in the colour-name distance
    colour_bits: int = 5  # bits per channel of the colour-name lookup table (2 ** 15 cells; at most 6)
    colours: tuple[tuple[str, tuple[tuple[int, int, int], ...]], ...] = COLOURS
    solid_share: float = SOLID_SHARE
    tone_cuts: tuple[float, float] = TONE_CUTS
    length_cuts: dict[str, tuple[float, float]] = dataclasses.field(default_factory=LENGTH_CUTS.copy)
    jpeg_quality: int = 95

    def __post_init__(self):
        if [name for name, _ in self.colours] != COLOUR_NAMES:
            raise ValueError(f"colours must name {COLOUR_NAMES} in this order (the attribute table's values); "
                             "change the swatches, not the names")
        if not {*self.length_cuts, *self.one_object_classes} <= set(GARMENT_CLASSES):
            raise ValueError(f"length_cuts and one_object_classes name garment classes only: {GARMENT_CLASSES}")
        pairs = {"shop_fill": self.shop_fill, "shop_exposure": self.shop_exposure, "tone_cuts": self.tone_cuts,
                 "white_balance_limits": self.white_balance_limits, **self.length_cuts}
        unordered = [name for name, (low, high) in pairs.items() if not low <= high]
        if unordered:
            raise ValueError(f"{unordered}: each pair is (low, high)")
        shares = (self.min_area_fraction, self.speck_fraction, self.shop_flip_probability, self.solid_share)
        if not all(0 <= share <= 1 for share in shares) or not 0 < self.shop_fill[1] <= 1:
            raise ValueError("fractions, shares and the flip probability lie in [0, 1]")
        if min(self.view_size, self.colour_bits, self.jpeg_quality) < 1 or self.erosion < 0 \
                or self.colour_bits > 6 or self.jpeg_quality > 100:
            raise ValueError("view_size >= 1, erosion >= 0, jpeg_quality in 1..100, colour_bits in 1..6 "
                             "(the lookup table has 2 ** (3 x bits) cells)")


DEFAULT_CONFIG = C2SConfig()
COLUMNS = ["item_id", "photo_id", "split", "source", "x0", "y0", "x1", "y1", "consumer", "shop",
           "instance_id", "similar_id", *ATTRIBUTE_VALUES, "area", "colour_share", "relative_length"]
_INT_COLUMNS = ("x0", "y0", "x1", "y1")
_FLOAT_COLUMNS = ("area", "colour_share", "relative_length")


class C2SMissingError(FileNotFoundError):
    """No built consumer-to-shop set where one was asked for."""


def default_folder() -> Path:
    """``data/c2s`` beside the CCP folder."""
    return settings.data_root.parent / "c2s"


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


# --- items: masks, boxes, views ---------------------------------------------------------------

def garment_regions(class_mask: np.ndarray, config: C2SConfig = DEFAULT_CONFIG) -> dict[str, np.ndarray]:
    """``{class name: boolean mask}`` for each garment class covering at least
    ``config.min_area_fraction`` of the photo, after dropping specks (pieces under
    ``config.speck_fraction`` of the class's pixels), which would otherwise stretch the box across
    the photo. In ``config.one_object_classes`` only the largest object is kept, so a hat and a
    belt do not become one item spanning the body."""
    regions = {}
    for name in GARMENT_CLASSES:
        mask = drop_specks(class_mask == CLASSES.index(name), config.speck_fraction)
        if name in config.one_object_classes:
            mask = main_object(mask)
        if mask.sum() >= max(1, config.min_area_fraction * class_mask.size):
            regions[name] = mask
    return regions


def drop_specks(mask: np.ndarray, fraction: float) -> np.ndarray:
    """``mask`` without its 8-connected pieces smaller than ``fraction`` of its pixels (but never
    without its largest piece)."""
    pieces, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if count <= 1:
        return mask
    sizes = np.bincount(pieces.ravel())
    keep = sizes >= min(fraction * sizes[1:].sum(), sizes[1:].max())  # the largest piece always stays
    keep[0] = False
    return keep[pieces]


def main_object(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected piece of ``mask`` plus the pieces within one of its lengths (its box's
    long side) of its box: a pair of sunglasses or a cap with its brim, not a cap and a belt."""
    pieces, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if count <= 1:
        return mask
    largest = int(np.bincount(pieces.ravel())[1:].argmax()) + 1
    x0, y0, x1, y1 = box_of(pieces == largest)
    reach = max(x1 - x0, y1 - y0)
    near = [k for k, (rows, cols) in enumerate(ndimage.find_objects(pieces), 1)
            if max(x0 - cols.stop, cols.start - x1, y0 - rows.stop, rows.start - y1) <= reach]
    return np.isin(pieces, near)


def box_of(mask: np.ndarray) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` of the mask's pixels, end-exclusive like a slice."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if not len(rows):
        raise ValueError("empty mask has no box")
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def consumer_view(photo: np.ndarray, box: tuple[int, int, int, int], config: C2SConfig = DEFAULT_CONFIG) -> np.ndarray:
    """The square crop around ``box`` (its long side plus ``config.consumer_margin`` each side),
    shifted to stay inside the photo where it fits, grey beyond the edge where it does not; resized
    to ``config.view_size``."""
    x0, y0, x1, y1 = box
    side = round(max(x1 - x0, y1 - y0) * (1 + 2 * config.consumer_margin))
    height, width = photo.shape[:2]
    left = _place(round((x0 + x1 - side) / 2), side, width)
    top = _place(round((y0 + y1 - side) / 2), side, height)
    canvas = np.full((side, side, 3), config.outside_grey, dtype=np.uint8)
    sx0, sy0, sx1, sy1 = max(left, 0), max(top, 0), min(left + side, width), min(top + side, height)
    canvas[sy0 - top:sy1 - top, sx0 - left:sx1 - left] = photo[sy0:sy1, sx0:sx1]
    size = config.view_size
    return np.asarray(Image.fromarray(canvas).resize((size, size), Image.Resampling.LANCZOS))


def _place(start: int, side: int, length: int) -> int:
    """Shift a window of ``side`` so it lies inside ``0..length`` if it can; else centre it."""
    if side >= length:
        return (length - side) // 2
    return min(max(start, 0), length - side)


def white_balance_gains(photo: np.ndarray, limits: tuple[float, float]) -> np.ndarray:
    """Gray-world gains over the whole photo (the scene's light, not the garment's own colour),
    clipped to ``limits`` so they correct a colour cast without recolouring a garment."""
    means = photo.reshape(-1, 3).mean(0) + 1e-6
    return np.clip(means.mean() / means, *limits)


def shop_view(photo: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
              config: C2SConfig = DEFAULT_CONFIG) -> np.ndarray:
    """The garment alone on white, centred in a ``config.view_size`` square, after seeded catalogue
    transforms: white balance and exposure, horizontal flip, a small rotation and scale jitter."""
    x0, y0, x1, y1 = box_of(mask)
    gains = white_balance_gains(photo, config.white_balance_limits) * rng.uniform(*config.shop_exposure)
    lit = np.clip(photo[y0:y1, x0:x1] * gains, 0, 255).astype(np.uint8)
    inside = mask[y0:y1, x0:x1]
    cut = Image.fromarray(np.where(inside[..., None], lit, 255).astype(np.uint8))
    alpha = Image.fromarray(inside.astype(np.uint8) * 255)
    if rng.random() < config.shop_flip_probability:
        cut, alpha = (im.transpose(Image.Transpose.FLIP_LEFT_RIGHT) for im in (cut, alpha))
    angle = rng.uniform(-config.shop_max_rotation, config.shop_max_rotation)
    cut = cut.rotate(angle, Image.Resampling.BILINEAR, expand=True, fillcolor=(255, 255, 255))
    alpha = alpha.rotate(angle, Image.Resampling.BILINEAR, expand=True, fillcolor=0)
    bbox = alpha.point(lambda v: 255 if v >= 128 else 0).getbbox() or alpha.getbbox()
    cut = cut.crop(bbox)
    size = config.view_size
    scale = rng.uniform(*config.shop_fill) * size / max(cut.size)
    cut = cut.resize((max(1, round(cut.width * scale)), max(1, round(cut.height * scale))), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (size, size), (255, 255, 255))
    canvas.paste(cut, ((size - cut.width) // 2, (size - cut.height) // 2))
    return np.asarray(canvas)


def item_rng(item_id: str) -> np.random.Generator:
    """A generator seeded from the item id alone, so a build repeats whatever the photo order or
    the number of worker processes."""
    return np.random.default_rng(int.from_bytes(hashlib.sha256(item_id.encode()).digest()[:8], "little"))


# --- attributes --------------------------------------------------------------------------------

def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of sRGB values in 0..255, shape (..., 3)."""
    c = np.asarray(rgb, dtype=np.float64) / 255
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    xyz /= np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


@functools.cache
def _colour_lut(colours: tuple, weights: tuple[float, float, float], bits: int) -> np.ndarray:
    """Colour-name index for every RGB cell of ``bits`` a channel (32,768 cells at 5 bits): the
    nearest swatch in CIELAB with weighted differences (the default halves lightness: k_L = 2,
    CIE94's weighting for textiles, so a shadow on navy jeans stays blue instead of turning black)."""
    swatches = [(index, rgb) for index, (_, rgbs) in enumerate(colours) for rgb in rgbs]
    owners = np.array([index for index, _ in swatches])
    weights = np.array(weights)
    swatch_lab = srgb_to_lab(np.array([rgb for _, rgb in swatches])) * weights
    step = 1 << (8 - bits)
    centres = np.arange(1 << bits) * step + step // 2
    cells = np.stack(np.meshgrid(centres, centres, centres, indexing="ij"), -1).reshape(-1, 3)
    distance = ((srgb_to_lab(cells)[:, None, :] * weights - swatch_lab[None]) ** 2).sum(-1)
    return owners[distance.argmin(1)].astype(np.uint8)


def colour_indices(pixels: np.ndarray, config: C2SConfig = DEFAULT_CONFIG) -> np.ndarray:
    """Index into ``COLOUR_NAMES`` of each RGB pixel (N x 3 uint8)."""
    bits = config.colour_bits
    q = (np.asarray(pixels, dtype=np.uint8) >> (8 - bits)).astype(np.int64)
    return _colour_lut(config.colours, config.colour_weights, bits)[(q[:, 0] << 2 * bits) | (q[:, 1] << bits) | q[:, 2]]


def colour_attributes(pixels: np.ndarray, config: C2SConfig = DEFAULT_CONFIG) -> dict:
    """colour, pattern, second_colour, tone and the dominant colour's share, from RGB pixels (N x 3)."""
    counts = np.bincount(colour_indices(pixels, config), minlength=len(COLOUR_NAMES))
    first, second = np.argsort(-counts, kind="stable")[:2]
    share = counts[first] / counts.sum()
    solid = share >= config.solid_share
    lightness = float(np.median(srgb_to_lab(pixels)[:, 0]))
    dark_below, light_from = config.tone_cuts
    tone = "dark" if lightness < dark_below else "light" if lightness >= light_from else "medium"
    return {"colour": COLOUR_NAMES[first], "pattern": "solid" if solid else "multicolour",
            "second_colour": NA if solid or counts[second] == 0 else COLOUR_NAMES[second],
            "tone": tone, "colour_share": round(float(share), 4)}


def garment_pixels(photo: np.ndarray, mask: np.ndarray, config: C2SConfig = DEFAULT_CONFIG) -> np.ndarray:
    """The RGB pixels of ``mask`` eroded by ``config.erosion`` px (annotation edges bleed skin and
    background into the colour), or of the whole mask when the garment is too thin to erode."""
    if not config.erosion:
        return photo[mask]
    inner = ndimage.binary_erosion(mask, iterations=config.erosion)
    return photo[inner if inner.sum() >= config.min_eroded_pixels else mask]


def relative_length(mask: np.ndarray, person: np.ndarray) -> float:
    """Garment box height over person box height (person = every non-background pixel)."""
    _, y0, _, y1 = box_of(mask)
    _, p0, _, p1 = box_of(person)
    return (y1 - y0) / (p1 - p0)


def length_value(category: str, relative: float, config: C2SConfig = DEFAULT_CONFIG) -> str:
    """short / medium / long by the class's cut points; n/a for classes without a length."""
    if category not in config.length_cuts:
        return NA
    short_below, long_from = config.length_cuts[category]
    return "short" if relative < short_below else "long" if relative >= long_from else "medium"


def fine_category(ccp_labels: np.ndarray | None, mask: np.ndarray, names: list[str]) -> str:
    """The most frequent CCP label under ``mask``; n/a without pixel-level CCP labels."""
    if ccp_labels is None:
        return NA
    return names[int(np.bincount(ccp_labels[mask]).argmax())]


def similar_id(item: dict) -> str:
    """The similar-item group: category, fine category and dominant colour (category first, so a
    pseudo-labelled item's "n/a" fine category never joins another class's group)."""
    return f"{item['category']}|{item['fine_category']}|{item['colour']}"


# --- pair rules --------------------------------------------------------------------------------

PROTOCOLS = {"instance": "instance_id", "similar": "similar_id"}


def pair_label(item_a: dict, item_b: dict, protocol: str) -> int | None:
    """The paper's pair label: 0 (similar) for the same ID, 1 (dissimilar) for different IDs of
    different categories, and None for different IDs of the same category.

    The paper defines only the first two; we leave the third out of pair sampling rather than
    calling it dissimilar: two blue jeans from different photos (instance protocol), or jeans and
    pants of one colour (similar-item protocol), are often alike, and a contrastive loss that pushes
    them apart teaches the codes noise.
    """
    key = PROTOCOLS[protocol]
    if item_a[key] == item_b[key]:
        return 0
    if item_a["category"] != item_b["category"]:
        return 1
    return None


def pair_counts(items: list[dict], protocol: str) -> dict[str, int]:
    """Similar / dissimilar / ambiguous (None) counts over all (consumer view, shop view) pairs of
    ``items`` (N x N ordered pairs, an item with itself included), counted from group sizes."""
    key = PROTOCOLS[protocol]
    similar = sum(n * n for n in Counter(item[key] for item in items).values())
    same_category = sum(n * n for n in Counter(item["category"] for item in items).values())
    return {"similar": similar, "dissimilar": len(items) ** 2 - same_category, "ambiguous": same_category - similar}


# --- building ----------------------------------------------------------------------------------

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
              workers: int | None = None, progress: bool = True, config: C2SConfig = DEFAULT_CONFIG) -> Path:
    """Build the set into ``out`` (default ``data/c2s``) and return the folder.

    Items come from the ground truth of ``photo_ids`` (default: all 1,004 annotated photos), each in
    its photo's split, and, with ``predictions``, from the tag-only photos predicted there (training
    split, ``source=pseudo``, kept only where the photo's tags name the predicted class).
    ``max_photos`` keeps the first N of each list (fast mode). The build is staged beside ``out`` and
    moved into place whole; if ``out`` already holds a build of the same inputs and ``config`` (the
    key :func:`build_key` writes into ``meta.json``), nothing happens.
    """
    out = Path(out or default_folder()).resolve()
    photo_ids = sorted(photo_ids if photo_ids is not None else annotated_ids())[:max_photos]
    split_of = {photo_id: name for name in SPLITS for photo_id in load_split(name)}
    unknown = [photo_id for photo_id in photo_ids if photo_id not in split_of]
    if unknown:
        raise ValueError(f"photos {unknown[:5]} have no pixel-level labels; pass tag-only photos as predictions")
    predicted = dict(list(prediction_files(predictions).items())[:max_photos]) if predictions else {}
    key = build_key(config, photo_ids, list(predicted.values()))
    if _built_key(out) == key:
        return out
    if out.exists() and any(out.iterdir()) and not (out / "meta.json").exists():
        raise FileExistsError(f"{out} exists and is not a consumer-to-shop build; nothing was changed. "
                              "Remove it or choose another --out.")

    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
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
                "clothlib_version": _version(), "build_command": BUILD_COMMAND,
                "attributes": ATTRIBUTE_VALUES, "columns": COLUMNS}
        (staging / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        _swap_into_place(staging, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _map(function, tasks: list, workers: int | None):
    """``map`` over worker processes (in task order, so the result does not depend on them)."""
    workers = min(4, os.cpu_count() or 1) if workers is None else workers
    if workers <= 1 or len(tasks) < 2:
        yield from map(function, tasks)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
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


def _version() -> str:
    from .. import __version__

    return __version__


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
