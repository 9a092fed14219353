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


def plot_fusion_diagram(ax, taps: list[dict], title: str = "") -> None:
    """Encoder feature maps (box height ~ 1 / sqrt(stride)) feeding the score / x2 deconv / sum decoder."""
    from matplotlib.patches import FancyArrowPatch, Rectangle

    n = len(taps)
    ax.set_xlim(-0.5, n + 1.8)
    ax.set_ylim(-1.6, 1.3)
    ax.axis("off")
    ax.set_title(title)
    ax.add_patch(Rectangle((-0.45, -0.5), 0.3, 1.0, color="#bbbbbb"))
    ax.text(-0.3, -0.65, "image\nstride 1", ha="center", va="top", fontsize=7)
    for i, tap in enumerate(taps):
        height = tap["stride"] ** -0.5
        ax.add_patch(Rectangle((i + 0.1, -height / 2), 0.5, height, color="#4c72b0"))
        ax.text(i + 0.35, -0.65, f"{tap['feature']}\n{tap['channels']} ch\nstride {tap['stride']}\n"
                f"RF {tap['receptive_field']} px", ha="center", va="top", fontsize=7)
        ax.add_patch(FancyArrowPatch((i + 0.35, height / 2 + 0.02), (n + 0.6, 0.85 - 0.08 * i),
                                     arrowstyle="->", mutation_scale=8, color="#dd8452"))
    ax.add_patch(Rectangle((n + 0.6, 0.3), 0.9, 0.7, color="#dd8452", alpha=0.3))
    ax.text(n + 1.05, 0.65, "1x1 score\nx2 deconv\ncrop + sum", ha="center", va="center", fontsize=7)
    ax.add_patch(FancyArrowPatch((n + 1.05, 0.3), (n + 1.05, -0.3), arrowstyle="->", mutation_scale=8))
    ax.text(n + 1.05, -0.45, f"x{taps[0]['stride']} deconv\n-> 13 class\nscores", ha="center", va="top", fontsize=7)
