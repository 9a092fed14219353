"""Figures: palettes, colour overlays and legends for label masks, network diagrams, retrieval grids (matplotlib)."""
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


def plot_hashing_diagram(ax, model, in_features: int, title: str = "") -> None:
    """A hashing network as boxes: frozen backbone -> trunk -> hash layer, and its task heads
    (with the category -> attribute link of catt2/catt3)."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    ax.set_xlim(0, 10)
    ax.set_ylim(0, 6)
    ax.axis("off")
    ax.set_title(title)

    def box(x, y, text, colour, width=2.2):
        ax.add_patch(FancyBboxPatch((x, y), width, 0.9, boxstyle="round,pad=0.05", color=colour, alpha=0.35))
        ax.text(x + width / 2, y + 0.45, text, ha="center", va="center", fontsize=7)

    def arrow(start, end):
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="->", mutation_scale=8))

    hidden = model.trunk[0].out_features
    box(0.1, 2.5, f"view 128x128\n-> frozen backbone\n{in_features}-d", "#bbbbbb")
    box(3.0, 2.5, f"trunk (2 x FC)\n{hidden}-d float features", "#4c72b0")
    arrow((2.3, 2.95), (3.0, 2.95))
    bits = model.hash[0].out_features
    box(6.4, 4.6, f"hash layer\n{bits} x tanh -> sign", "#dd8452", 3.3)
    arrow((5.2, 3.2), (6.4, 5.0))
    heads = list(model.heads)
    for i, task in enumerate(heads):
        y = 3.4 - i * 0.55
        ax.text(6.5, y, f"{task} ({model.heads[task].out_features})", fontsize=7, va="center",
                color="#55a868" if task == "category" else "#8172b2")
        arrow((5.2, 2.95), (6.45, y))
    if model.variant.condition_on_category and heads:
        ax.text(8.6, 3.4, "softmax feeds\nthe other heads", fontsize=6, va="center", color="#55a868")
    if not heads:
        ax.text(6.5, 2.9, "no task heads:\npairs only", fontsize=7, va="center")


def plot_retrieval_rows(rows: list[dict], title: str = ""):
    """One row per query: its consumer view, then its ranked shop views with their distances; a
    relevant one is outlined in green. ``rows``: dicts from ``clothlib.retrieval.ranked_examples``."""
    import matplotlib.pyplot as plt

    from .data.images import read_view

    k = max(len(row["matches"]) for row in rows)
    fig, axes = plt.subplots(len(rows), k + 1, figsize=(1.35 * (k + 1), 1.55 * len(rows)), squeeze=False)
    for ax_row, row in zip(axes, rows):
        ax_row[0].imshow(read_view(row["query_view"]))
        ax_row[0].set_title(f"query {row['item_id']}", fontsize=6)
        for rank, (ax, match) in enumerate(zip(ax_row[1:], row["matches"]), 1):
            ax.imshow(read_view(match["shop_view"]))
            ax.set_title(f"#{rank} d={match['distance']}", fontsize=6, color="green" if match["relevant"] else "black")
            if match["relevant"]:
                for spine in ax.spines.values():
                    spine.set(color="green", linewidth=3)
        for ax in ax_row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_garment_matches(image: np.ndarray, labels: np.ndarray, results: list, names: list[str], k: int = 10):
    """The parsed photo with each garment's box, then one row per garment: its consumer view and
    its top-k shop matches with Hamming distances (``results`` from ``ClothingRetriever.retrieve``)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from .data.images import read_view

    rows = max(1, len(results))
    fig = plt.figure(figsize=(1.3 * (k + 1) + 4, max(4.5, 1.5 * rows)))
    grid = fig.add_gridspec(rows, k + 5)  # photo (3 columns), garment view, a gap, k matches
    ax = fig.add_subplot(grid[:, :3])
    show_mask_overlay(ax, image, labels, names, "parsed photo", legend=False)
    for garment, _ in results:
        x0, y0, x1, y1 = garment.box
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="yellow", lw=1.5))
        ax.text(x0, y0, garment.category, color="yellow", fontsize=7, va="bottom")
    for row, (garment, matches) in enumerate(results):
        cells = [(garment.view, garment.category)] + [(read_view(m.shop_view), f"d={m.distance}") for m in matches[:k]]
        for column, (view, title) in enumerate(cells):
            cell = fig.add_subplot(grid[row, 3 + column + (column > 0)])
            cell.imshow(view)
            cell.set_title(title, fontsize=6)
            cell.axis("off")
    fig.tight_layout()
    return fig
