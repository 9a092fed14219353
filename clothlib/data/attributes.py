"""The attribute table of the consumer-to-shop items (paper §3.1): each attribute group, its values
and the cut points that assign them.

The builder (:mod:`clothlib.data.c2s`) reads it to label items and the hashing heads
(:mod:`clothlib.hashing.models`) to size their outputs, so both agree on the values by construction.
Every group but ``category`` has an explicit "n/a" value (an attribute that is unknown or does not
apply), so a head can predict it instead of being forced to guess.
"""
from __future__ import annotations

from .classes import CLASS_GROUPS, GARMENT_CLASSES

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
