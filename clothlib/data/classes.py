"""The 59 -> 13 relabeling of CCP (paper §3.1): the one table every stage reads.

The paper gives only the principle: keep null, hair and skin; merge similar garments (shirt and
blouse become tops); send rare labels (watch, bra, gloves, ...) to the background. The groups
below were chosen from pixel and image counts over the 1,004 annotated photos (notebook 01 shows
them) and from what a shopper would search for.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..io import atomic_write

# (class name, CCP labels merged into it, why). Index in this list = class index.
CLASS_GROUPS: list[tuple[str, tuple[str, ...], str]] = [
    ("null", ("null", "bra", "intimate", "panties", "swimwear", "gloves", "watch", "bracelet",
              "necklace", "earrings", "ring"),
     ("background, plus labels too rare to learn (bra, gloves and intimates appear in a handful of "
      "photos or none) or too small to segment or sell as a garment (watch and jewellery)")),
    ("hair", ("hair",), "not a garment; kept because it borders hats and tops"),
    ("skin", ("skin",), "not a garment; kept so the FCN learns where the body is bare"),
    ("tops", ("top", "blouse", "shirt", "t-shirt", "sweater", "sweatshirt", "hoodie", "jumper",
              "cardigan", "vest", "bodysuit"),
     "upper-body garments worn under any outer layer; the paper's own example (shirt + blouse)"),
    ("outerwear", ("coat", "jacket", "blazer", "cape", "suit"),
     "outer layers; CCP's 'suit' marks the suit jacket over the torso in most photos"),
    ("dress", ("dress", "romper"), "one-piece garments covering torso and legs"),
    ("pants", ("pants", "jeans", "leggings"), "full-length legwear garments"),
    ("skirt", ("skirt",), "a distinct shape with many examples of its own"),
    ("shorts", ("shorts",), "short legwear, kept apart from pants so length stays meaningful"),
    ("legwear", ("stockings", "tights", "socks"), "hosiery worn on the legs under other garments"),
    ("shoes", ("shoes", "boots", "sandals", "heels", "pumps", "flats", "loafers", "sneakers",
               "wedges", "clogs"),
     "all footwear: most kinds alone are tiny, together shoes are in most photos"),
    ("bag", ("bag", "purse", "wallet"), "carried items a shop sells as bags"),
    ("accessories", ("accessories", "hat", "scarf", "belt", "sunglasses", "glasses", "tie"),
     "worn accessories large enough to see: head, neck, waist and eyewear"),
]

CLASSES: list[str] = [name for name, _, _ in CLASS_GROUPS]
NUM_CLASSES = len(CLASSES)
BACKGROUND_CLASSES = ("null", "hair", "skin")
GARMENT_CLASSES: list[str] = [c for c in CLASSES if c not in BACKGROUND_CLASSES]
IGNORE_INDEX = 255  # label value for pixels a loss or metric must skip (e.g. padding)


def ccp_to_class() -> dict[str, int]:
    """Map each CCP label name to its class index (every label exactly once)."""
    table: dict[str, int] = {}
    for index, (name, labels, _) in enumerate(CLASS_GROUPS):
        for label in labels:
            if label in table:
                raise ValueError(f"CCP label {label!r} is in both {CLASSES[table[label]]!r} and {name!r}")
            table[label] = index
    return table


def lookup_table(label_names: list[str]) -> np.ndarray:
    """A uint8 array ``lut`` with ``lut[ccp_index] = class_index``, for ``label_names`` in
    ``label_list.mat`` order; raises if the table and the dataset's labels disagree."""
    table = ccp_to_class()
    unknown = [n for n in label_names if n not in table]
    unused = sorted(set(table) - set(label_names))
    if unknown or unused:
        raise ValueError(f"class table and label_list.mat disagree: unmapped {unknown}, not in CCP {unused}")
    return np.array([table[n] for n in label_names], dtype=np.uint8)


def relabel(mask: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Turn a CCP label mask (0..58) into a class mask (0..12)."""
    return lut[mask]


def export_classes(path: str | os.PathLike) -> Path:
    """Write ``{"classes": [...], "ccp_to_class": {...}}`` as JSON, atomically."""
    payload = {"classes": CLASSES, "ccp_to_class": ccp_to_class()}
    with atomic_write(path) as f:
        json.dump(payload, f, indent=2)
    return Path(path)


def merge_counts(label_counts: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Sum per-CCP-label counts (length 59) into per-class counts (length 13)."""
    return np.bincount(lut, weights=label_counts, minlength=NUM_CLASSES).astype(label_counts.dtype)
