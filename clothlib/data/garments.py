"""Garments cut out of a class map: the rule the consumer-to-shop builder and the pipeline share.

One **garment** is all pixels of one garment class in one photo (a pair of shoes is one garment),
after dropping label specks; its box is the box of those pixels, and its *consumer view* is the
street-photo crop around the box (body and background included). The builder
(:mod:`clothlib.data.c2s`) cuts its items from ground-truth class maps by these functions, and
:class:`clothlib.pipeline.ClothingRetriever` cuts its queries from predicted ones by the same, so a
query looks like the items its codes were trained on. The *shop view* (the garment alone on white,
with seeded catalogue transforms) is drawn here too, beside the consumer view: only the builder
draws it, but both views are cut from one region and box.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from .classes import CLASSES, GARMENT_CLASSES


@dataclass(frozen=True)
class GarmentConfig:
    """How a garment is cut out and drawn: its part of :class:`clothlib.data.c2s.C2SConfig` (which
    adds the attribute and file parameters), and all the pipeline needs to cut a query."""

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

    def __post_init__(self):
        if not set(self.one_object_classes) <= set(GARMENT_CLASSES):
            raise ValueError(f"one_object_classes name garment classes only: {GARMENT_CLASSES}")
        pairs = {"shop_fill": self.shop_fill, "shop_exposure": self.shop_exposure,
                 "white_balance_limits": self.white_balance_limits}
        unordered = [name for name, (low, high) in pairs.items() if not low <= high]
        if unordered:
            raise ValueError(f"{unordered}: each pair is (low, high)")
        shares = (self.min_area_fraction, self.speck_fraction, self.shop_flip_probability)
        if not all(0 <= share <= 1 for share in shares) or not 0 < self.shop_fill[1] <= 1:
            raise ValueError("fractions, shares and the flip probability lie in [0, 1]")
        if self.view_size < 1:
            raise ValueError("view_size >= 1")


DEFAULT_GARMENTS = GarmentConfig()


def garment_regions(class_mask: np.ndarray, config: GarmentConfig = DEFAULT_GARMENTS) -> dict[str, np.ndarray]:
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


def consumer_view(photo: np.ndarray, box: tuple[int, int, int, int],
                  config: GarmentConfig = DEFAULT_GARMENTS) -> np.ndarray:
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
              config: GarmentConfig = DEFAULT_GARMENTS) -> np.ndarray:
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
