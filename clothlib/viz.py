"""Palettes, colour overlays and legends for label masks (matplotlib)."""
from __future__ import annotations

import numpy as np


def palette(n: int) -> np.ndarray:
    """``n`` distinct RGB colours (uint8), index 0 black for the background.

    Uses matplotlib's qualitative tab20 / tab20b / tab20c maps, so 13 classes and 59 labels both
    get colours a reader can tell apart.
    """
    from matplotlib import colormaps

    colours = np.concatenate([colormaps[name].colors for name in ("tab20", "tab20b", "tab20c")])
    if n - 1 > len(colours):
        raise ValueError(f"palette has {len(colours) + 1} colours, {n} asked")
    out = np.zeros((n, 3), dtype=np.uint8)
    out[1:] = np.round(np.asarray(colours[: n - 1]) * 255)
    return out


def colourise(mask: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Map a label mask (H x W) to an RGB image with ``colours[label]``."""
    return colours[mask]


def overlay(image: np.ndarray, mask: np.ndarray, colours: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """Blend the colourised mask over the photo; background (label 0) stays the photo."""
    coloured = colourise(mask, colours).astype(np.float32)
    blended = image.astype(np.float32) * (1 - alpha) + coloured * alpha
    out = np.where(mask[..., None] > 0, blended, image.astype(np.float32))
    return out.round().astype(np.uint8)


def legend_handles(names: list[str], colours: np.ndarray, present: np.ndarray | None = None) -> list:
    """Patches for ``ax.legend(handles=...)``, only for the labels in ``present`` if given."""
    from matplotlib.patches import Patch

    indices = range(len(names)) if present is None else sorted(int(i) for i in present)
    return [Patch(facecolor=colours[i] / 255, edgecolor="k", label=names[i]) for i in indices]


def show_mask_overlay(ax, image: np.ndarray, mask: np.ndarray, names: list[str], title: str = "",
                      alpha: float = 0.6, legend: bool = True) -> None:
    """Draw ``image`` with ``mask`` blended on ``ax`` and a legend of the labels present."""
    colours = palette(len(names))
    ax.imshow(overlay(image, mask, colours, alpha))
    ax.set_title(title)
    ax.axis("off")
    if legend:
        ax.legend(handles=legend_handles(names, colours, np.unique(mask)), loc="upper left",
                  bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
