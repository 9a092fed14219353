"""The attributes of the consumer-to-shop items (paper §3.1): the table (each attribute group, its
values and the cut points that assign them) and the rules that read an item's values from its pixels.

The builder (:mod:`clothlib.data.c2s`) labels items by these rules and the hashing heads
(:mod:`clothlib.hashing.models`) size their outputs from the table, so both agree on the values by
construction. Every group but ``category`` has an explicit "n/a" value (an attribute that is unknown
or does not apply), so a head can predict it instead of being forced to guess. Colours are named in
CIELAB, through a lookup table over quantised RGB, from the garment's pixels away from its edges.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .classes import CLASS_GROUPS, GARMENT_CLASSES
from .garments import box_of

NA = "n/a"

SOLID_SHARE = 0.6  # dominant colour covers at least this share of the garment -> "solid"
TONE_CUTS = (35.0, 65.0)  # median L* below the first: dark; from the second: light

# Basic colour terms (Berlin & Kay's eleven) with sRGB swatches; a name may have several swatches
# (navy is blue, beige is brown, teal is green) so shades of one colour land on one name.
COLOURS: tuple[tuple[str, tuple[tuple[int, int, int], ...]], ...] = (
    ("black", ((25, 25, 25),)),
    ("white", ((250, 250, 250), (230, 225, 215))),
    ("gray", ((128, 128, 128), (180, 180, 180))),
    ("red", ((200, 25, 35), (120, 20, 35))),
    ("orange", ((235, 125, 35),)),
    ("yellow", ((240, 215, 50),)),
    ("green", ((45, 135, 60), (100, 110, 50), (25, 120, 120))),
    ("blue", ((35, 75, 190), (25, 35, 85), (125, 165, 215))),
    ("purple", ((115, 55, 145),)),
    ("pink", ((235, 130, 170), (245, 195, 205))),
    ("brown", ((115, 70, 35), (195, 165, 120))),
)
COLOUR_NAMES = [name for name, _ in COLOURS]

# Per-class relative length cut points (garment height / person height): below the first is
# "short", from the second is "long". Train-split tertiles of each class, so "long" means long for a
# skirt, not long compared with trousers (notebook 04 shows the histograms and recomputes them).
LENGTH_CUTS: dict[str, tuple[float, float]] = {
    "tops": (0.26, 0.34), "outerwear": (0.38, 0.47), "dress": (0.46, 0.55), "pants": (0.41, 0.48),
    "skirt": (0.22, 0.3), "shorts": (0.18, 0.22), "legwear": (0.13, 0.27),
}
LENGTH_CLASSES = tuple(LENGTH_CUTS)  # the classes with a length; the others get "n/a"

# The attribute table: (group, values, why). Read by the builder and by the hashing heads.
ATTRIBUTES: list[tuple[str, tuple[str, ...], str]] = [
    ("category", tuple(GARMENT_CLASSES), "the 13-class table's ten garment classes: always known"),
    ("fine_category", (NA, *(label for name, labels, _ in CLASS_GROUPS if name in GARMENT_CLASSES for label in labels)),
     ("the most frequent CCP label in the region (paper's catt3 fine labels); n/a for pseudo-labelled "
      "items, whose class maps carry no CCP labels")),
    ("colour", (NA, *COLOUR_NAMES), "the most frequent basic colour name over the garment's pixels"),
    ("pattern", (NA, "solid", "multicolour"),
     f"solid when the dominant colour covers >= {SOLID_SHARE:.0%} of the garment"),
    ("second_colour", (NA, *COLOUR_NAMES), "the second most frequent colour name; n/a for solid items"),
    ("tone", (NA, "dark", "medium", "light"), "median lightness L* of the garment's pixels"),
    ("length", (NA, "short", "medium", "long"),
     "garment height over person height, cut per class; n/a for shoes, bags and accessories"),
]
ATTRIBUTE_VALUES: dict[str, tuple[str, ...]] = {name: values for name, values, _ in ATTRIBUTES}


@dataclass(frozen=True)
class AttributeConfig:
    """How attribute values are read from a garment's pixels: its part of
    :class:`clothlib.data.c2s.C2SConfig`. The cut points default to the table above, the one the
    hashing heads are sized from; the colour names must stay the table's (the swatches may move)."""

    erosion: int = 2  # px shaved off the mask before reading colours: edges bleed skin and background
    min_eroded_pixels: int = 50  # a thinner garment is read whole rather than eroded to nothing
    colour_weights: tuple[float, float, float] = (0.5, 1.0, 1.0)  # L*, a*, b* in the colour-name distance
    colour_bits: int = 5  # bits per channel of the colour-name lookup table (2 ** 15 cells; at most 6)
    colours: tuple[tuple[str, tuple[tuple[int, int, int], ...]], ...] = COLOURS
    solid_share: float = SOLID_SHARE
    tone_cuts: tuple[float, float] = TONE_CUTS
    length_cuts: dict[str, tuple[float, float]] = dataclasses.field(default_factory=LENGTH_CUTS.copy)

    def __post_init__(self):
        if [name for name, _ in self.colours] != COLOUR_NAMES:
            raise ValueError(f"colours must name {COLOUR_NAMES} in this order (the attribute table's values); "
                             "change the swatches, not the names")
        if not set(self.length_cuts) <= set(GARMENT_CLASSES):
            raise ValueError(f"length_cuts name garment classes only: {GARMENT_CLASSES}")
        unordered = [name for name, (low, high) in {"tone_cuts": self.tone_cuts, **self.length_cuts}.items()
                     if not low <= high]
        if unordered:
            raise ValueError(f"{unordered}: each pair is (low, high)")
        if not 0 <= self.solid_share <= 1:
            raise ValueError("solid_share lies in [0, 1]")
        if self.erosion < 0 or not 1 <= self.colour_bits <= 6:
            raise ValueError("erosion >= 0, colour_bits in 1..6 (the lookup table has 2 ** (3 x bits) cells)")


DEFAULT_ATTRIBUTES = AttributeConfig()


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


def colour_indices(pixels: np.ndarray, config: AttributeConfig = DEFAULT_ATTRIBUTES) -> np.ndarray:
    """Index into ``COLOUR_NAMES`` of each RGB pixel (N x 3 uint8)."""
    bits = config.colour_bits
    q = (np.asarray(pixels, dtype=np.uint8) >> (8 - bits)).astype(np.int64)
    return _colour_lut(config.colours, config.colour_weights, bits)[(q[:, 0] << 2 * bits) | (q[:, 1] << bits) | q[:, 2]]


def colour_attributes(pixels: np.ndarray, config: AttributeConfig = DEFAULT_ATTRIBUTES) -> dict:
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


def garment_pixels(photo: np.ndarray, mask: np.ndarray, config: AttributeConfig = DEFAULT_ATTRIBUTES) -> np.ndarray:
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


def length_value(category: str, relative: float, config: AttributeConfig = DEFAULT_ATTRIBUTES) -> str:
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
