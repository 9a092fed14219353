"""Figures: palettes, colour overlays and legends for label masks, network diagrams, retrieval grids (matplotlib).

The notebooks' figures that are not what a notebook teaches live here too, so that a notebook calls
each in one line: a ``plot_*`` function draws on a new pyplot figure (a notebook's inline backend
shows it) and returns that Figure, except the two diagrams, which draw on an axes given; none
writes a file.
"""
from __future__ import annotations

from collections import Counter

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


def _figure(*grid, **kwargs):
    """A pyplot figure (so a notebook's inline backend shows it) and its axes, always 2-D."""
    import matplotlib.pyplot as plt

    return plt.subplots(*grid, squeeze=False, **kwargs)


def plot_class_bars(groups: dict[str, np.ndarray], names: list[str], ylabel: str, title: str = "",
                    log: bool = False, colours=None):
    """One bar per class for each group side by side (e.g. each split's pixel share, each model's IoU),
    a line at zero when a value is negative. ``colours`` (a matplotlib colour per class) colour a
    single group."""
    fig, axes = _figure(figsize=(max(10, 0.85 * len(names)), 3.7))
    ax = axes[0, 0]
    width = 0.8 / len(groups)
    for k, (label, values) in enumerate(groups.items()):
        offset = (k - (len(groups) - 1) / 2) * width
        ax.bar(np.arange(len(names)) + offset, np.nan_to_num(values), width, label=label,
               color=colours, edgecolor="k", linewidth=0.3)
        if np.nanmin(values) < 0:
            ax.axhline(0, color="k", linewidth=0.8)
    ax.set_xticks(np.arange(len(names)), names, rotation=30, ha="right")
    ax.set(ylabel=ylabel, title=title, yscale="log" if log else "linear")
    if len(groups) > 1:
        ax.legend()
    fig.tight_layout()
    return fig


def plot_label_frequencies(panels: dict[str, np.ndarray], names: list[str]):
    """How often each label occurs, one horizontal bar panel per count (the first on a log scale),
    labels sorted by the first count, in the labels' palette colours."""
    fig, axes = _figure(1, len(panels), figsize=(5 * len(panels), 0.18 * len(names) + 0.5), sharey=True)
    first = next(iter(panels.values()))
    order = np.argsort(-first)
    colours = palette(len(names))[order] / 255
    for ax, (title, values) in zip(axes[0], panels.items()):
        ax.barh(np.arange(len(names)), values[order], color=colours, edgecolor="k", linewidth=0.3)
        ax.set_title(title)
    axes[0, 0].set_xscale("log")
    axes[0, 0].set_yticks(np.arange(len(names)), [names[i] for i in order], fontsize=8)
    axes[0, 0].invert_yaxis()
    fig.tight_layout()
    return fig


def plot_label_panels(rows: list[list[tuple[str, np.ndarray]]], names: list[str]):
    """A grid of ``(title, array)`` panels: an H x W x 3 array is drawn as a photo, an H x W one as
    a label map in ``names``' palette (legend beside the first row), e.g. photo, ground truth and
    each model's prediction for a few photos."""
    colours = palette(len(names))
    fig, axes = _figure(len(rows), max(map(len, rows)), figsize=(3 * max(map(len, rows)), 4.4 * len(rows)))
    for ax in axes.flat:
        ax.axis("off")
    for ax_row, panels in zip(axes, rows):
        for ax, (title, array) in zip(ax_row, panels):
            ax.imshow(array if array.ndim == 3 else colourise(array, colours))
            ax.set_title(title)
    axes[0, -1].legend(handles=legend_handles(names, colours), loc="upper left", bbox_to_anchor=(1, 1), fontsize=7)
    fig.tight_layout()
    return fig


def plot_histories(runs: dict[str, list[dict]], keys: dict[str, str], dashed: tuple[str, ...] = ()):
    """Training curves: one panel per history key (``keys``: key -> panel title), one line per run
    (``runs``: name -> ``checkpoint["history"]``); a run without a key is left out of its panel,
    the runs in ``dashed`` are dashed."""
    fig, axes = _figure(1, len(keys), figsize=(4 * len(keys) + 2, 3.4))
    for ax, (key, title) in zip(axes[0], keys.items()):
        for name, history in runs.items():
            if key in history[0]:
                ax.plot([h["epoch"] for h in history], [h[key] for h in history], label=name,
                        ls="--" if name in dashed else "-")
        ax.set(title=title, xlabel="epoch")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_history_keys(curve: list[dict], keys: dict[str, str], title: str, ylabel: str = "%",
                      xlabel: str = "epoch"):
    """Several keys of one run's curve (``keys``: key -> line label) on one panel, one point per
    entry of ``curve`` at its epoch (e.g. each task's validation accuracy)."""
    fig, axes = _figure(figsize=(7, 3.2))
    ax = axes[0, 0]
    x = [entry.get("epoch", i) for i, entry in enumerate(curve)]  # an entry before training has none
    for key, label in keys.items():
        ax.plot(x, [entry[key] for entry in curve], marker="o", label=label)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def plot_confusion(normalised: np.ndarray, names: list[str], title: str):
    """A row-normalised confusion matrix (rows: true class, columns: predicted), shares of 5 % or
    more written in their cells."""
    fig, axes = _figure(figsize=(7.5, 6.5))
    ax = axes[0, 0]
    image = ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(np.arange(len(names)), names, rotation=60, ha="right")
    ax.set_yticks(np.arange(len(names)), names)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    for i, j in zip(*np.nonzero(normalised >= 0.05)):
        ax.text(j, i, f"{normalised[i, j]:.2f}", ha="center", va="center", fontsize=6,
                color="white" if normalised[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def plot_crf_tradeoff(search: dict, title: str):
    """Every CRF setting a search timed (p95 CPU seconds against mean IU), its trade-off curve and
    the time budget (``search``: the ``crf-search`` results file)."""
    fig, axes = _figure(figsize=(7, 4))
    ax = axes[0, 0]
    ax.scatter([r["cpu_s_p95"] for r in search["runs"]], [r["mean_iu"] for r in search["runs"]], s=14,
               color="0.6", label="every setting")
    curve = search["trade_off"]
    ax.plot([r["cpu_s_p95"] for r in curve], [r["mean_iu"] for r in curve], "o-", label="trade-off curve")
    ax.axvline(search["time_bound_s"], color="tab:red", linestyle="--", label=f"budget {search['time_bound_s']} s")
    ax.set(xlabel="p95 CRF CPU seconds per photo (one core)", ylabel=f"{search['split']} mean IU (%)", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _outline(ax, box, colour, lw: float = 2) -> None:
    from matplotlib.patches import Rectangle

    x0, y0, x1, y1 = box
    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=lw, color=colour))


def plot_item_making(photo: np.ndarray, classes: np.ndarray, items: list[dict], mask: np.ndarray,
                     consumer: np.ndarray, shop: np.ndarray, title: str):
    """How one photo becomes consumer-to-shop items: the photo with every item's box (in its
    class colour), its 13-class map, the first item's mask and box, and that item's two views
    (``items``: the photo's manifest rows, the first one shown)."""
    from .data.classes import CLASSES

    colours = palette(len(CLASSES)) / 255
    fig, axes = _figure(1, 5, figsize=(17, 5), gridspec_kw={"width_ratios": [1, 1, 1, 1.5, 1.5]})
    axes = axes[0]
    axes[0].imshow(photo)
    axes[0].set_title(title)
    for row in items:
        _outline(axes[0], (row["x0"], row["y0"], row["x1"], row["y1"]), colours[CLASSES.index(row["category"])])
    show_mask_overlay(axes[1], photo, classes, CLASSES, "13 classes", legend=False)
    example = items[0]
    axes[2].imshow(mask, cmap="gray")
    _outline(axes[2], (example["x0"], example["y0"], example["x1"], example["y1"]), "tab:orange")
    axes[2].set_title(f"{example['category']}: mask and box")
    for ax, view, view_title in ((axes[3], consumer, "consumer view"), (axes[4], shop, "shop view")):
        ax.imshow(view)
        ax.set_title(view_title)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_region_areas(candidates: list[tuple[str, float]], minimum: float, classes: list[str]):
    """Garment regions by area (share of the photo, log bins), stacked by class, and the minimum
    area kept (``candidates``: ``(class, area)`` of every region)."""
    from .data.classes import CLASSES

    colours = palette(len(CLASSES)) / 255
    areas = np.array([area for _, area in candidates])
    fig, axes = _figure(figsize=(11, 4))
    ax = axes[0, 0]
    bins = np.logspace(np.log10(max(areas.min(), 1e-5)), 0, 40)
    stack = [[area for category, area in candidates if category == name] for name in classes]
    ax.hist(stack, bins=bins, stacked=True, label=classes, color=[colours[CLASSES.index(name)] for name in classes])
    ax.axvline(minimum, color="k", ls="--", label="minimum")
    ax.set(xscale="log", xlabel="region area / photo area", ylabel="regions")
    ax.legend(ncol=2, fontsize=8)
    fig.tight_layout()
    return fig


def plot_view_pairs(folder, items: list[dict], title: str = "", columns: int = 4):
    """Consumer and shop view side by side for each item (manifest rows of the set in ``folder``),
    with its ID, fine category and colour."""
    from pathlib import Path

    from .data.images import read_view

    lines = -(-len(items) // columns)
    fig, axes = _figure(lines, 2 * columns, figsize=(2.1 * 2 * columns, 2.5 * lines))
    for ax in axes.flat:
        ax.axis("off")
    for k, row in enumerate(items):
        for ax, view in zip(axes.flat[2 * k:2 * k + 2], ("consumer", "shop")):
            ax.imshow(read_view(Path(folder) / row[view]))
        axes.flat[2 * k].set_title(f"{row['item_id']}", fontsize=8)
        axes.flat[2 * k + 1].set_title(f"{row['fine_category']}, {row['colour']}", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_attribute_counts(rows: list[dict], values: dict[str, list[str]]):
    """How many items take each value of each attribute (``values``: attribute -> its values)."""
    fig, axes = _figure(-(-len(values) // 3), 3, figsize=(16, 3.5 * -(-len(values) // 3)))
    for ax in axes.flat[len(values):]:
        ax.axis("off")
    for ax, (name, names) in zip(axes.flat, values.items()):
        counts = Counter(row[name] for row in rows)
        ax.bar(range(len(names)), [counts[v] for v in names], color="tab:blue")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
        ax.set_title(name)
    fig.suptitle("attribute values over all items")
    fig.tight_layout()
    return fig


def plot_length_histograms(lengths: dict[str, list[float]], cuts: dict[str, tuple[float, ...]]):
    """Each class's garment length relative to the person's height, with the cut points between
    its length values (``lengths``: class -> lengths)."""
    from .data.classes import CLASSES

    colours = palette(len(CLASSES)) / 255
    fig, axes = _figure(1, len(lengths), figsize=(17, 3))
    for ax, (name, values) in zip(axes[0], lengths.items()):
        ax.hist(values, bins=np.linspace(0, 1, 26), color=colours[CLASSES.index(name)])
        for cut in cuts[name]:
            ax.axvline(cut, color="k", ls="--")
        ax.set(title=f"{name} ({len(values)})", xlabel="garment / person height")
    fig.tight_layout()
    return fig


def plot_similar_groups(ids: list[str], largest: int = 15):
    """The sizes of the similar-item IDs (how many items share one, log scale) and the ``largest``
    IDs (``ids``: every item's similar-item ID)."""
    counts = Counter(ids)
    sizes = list(counts.values())
    fig, axes = _figure(1, 2, figsize=(14, 3.5))
    axes[0, 0].hist(sizes, bins=np.logspace(0, np.log10(max(sizes)) + 0.05, 20), color="tab:blue")
    axes[0, 0].set(xscale="log", xlabel="items in a similar-item ID", ylabel="IDs")
    top = counts.most_common(largest)
    axes[0, 1].barh([name for name, _ in top][::-1], [n for _, n in top][::-1])
    axes[0, 1].set_title("largest similar-item IDs (training split)")
    axes[0, 1].tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    return fig


def plot_bit_statistics(relaxed: np.ndarray, title: str = ""):
    """What a hash layer's codes look like over a set of views (``relaxed``: its outputs before
    the sign, views x bits): each bit's share of +1, the correlation between bits, the outputs."""
    bits = relaxed >= 0
    correlation = np.corrcoef(np.where(bits, 1.0, -1.0).T)
    fig, axes = _figure(1, 3, figsize=(15, 3.4))
    axes = axes[0]
    axes[0].bar(range(bits.shape[1]), bits.mean(0))
    axes[0].axhline(0.5, color="grey", ls=":")
    axes[0].set(title="bit balance (share of +1)", xlabel="bit")
    image = axes[1].imshow(correlation, cmap="coolwarm", vmin=-1, vmax=1)
    axes[1].set_title("bit correlation")
    fig.colorbar(image, ax=axes[1])
    axes[2].hist(relaxed.ravel(), bins=50)
    axes[2].set(title="hash layer outputs (before packing)", xlabel="output")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_hashing_diagrams(networks: dict, in_features: int):
    """:func:`plot_hashing_diagram` of each network, two per row."""
    fig, axes = _figure(-(-len(networks) // 2), 2, figsize=(12, 3.5 * -(-len(networks) // 2)))
    for ax in axes.flat[len(networks):]:
        ax.axis("off")
    for ax, (name, net) in zip(axes.flat, networks.items()):
        plot_hashing_diagram(ax, net, in_features, title=name)
    fig.tight_layout()
    return fig


def plot_topk_curves(curves: dict[str, dict[str, list[float]]], ks: list[int], title: str):
    """Top-k accuracy against k (log scale), one panel per protocol, one line per method
    (``curves``: method -> protocol -> accuracy at each of ``ks``)."""
    protocols = list(next(iter(curves.values())))
    fig, axes = _figure(1, len(protocols), figsize=(6.5 * len(protocols), 4))
    for ax, protocol in zip(axes[0], protocols):
        for name, by_protocol in curves.items():
            ax.plot(ks, by_protocol[protocol], marker="o", label=name)
        ax.set(xscale="log", xlabel="k", ylabel="top-k accuracy (%)", title=f"{protocol} protocol ({title})")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_tie_groups(group: np.ndarray, top1: dict[str, dict[str, float]], view_titles: dict[str, str],
                    title: str):
    """Ties in Hamming ranking: how many items tie with each query's right one (``group``), and
    each run's top-1 under each tie rule (``top1``: run -> rule -> top-1; ``view_titles``: the
    rules drawn as points, the others span the pessimistic .. optimistic bar)."""
    fig, axes = _figure(1, 2, figsize=(13, 3.6))
    axes = axes[0]
    axes[0].hist(group, bins=np.arange(1, group.max() + 2) - 0.5, log=True)
    axes[0].set(xlabel="items tied with the right one (n, itself included)", ylabel="queries", title=title)
    names = list(top1)
    for (view, label), marker in zip(view_titles.items(), "os^"):
        axes[1].scatter(range(len(names)), [top1[n][view] for n in names], marker=marker, label=label, zorder=3)
    axes[1].vlines(range(len(names)), [top1[n]["pessimistic"] for n in names], [top1[n]["optimistic"] for n in names],
                   color="grey", lw=6, alpha=0.4, label="pessimistic .. optimistic")
    axes[1].set_xticks(range(len(names)), names, rotation=20)
    axes[1].set(ylabel="top-1 (%)", title="top-1: what the tie rule decides")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_shortlists(lengths: list[int], curves: dict[str, list[float]], lines: dict[str, float], title: str):
    """Two-stage search: validation top-20 against the shortlist length R (log scale), one line per
    re-ranker (``curves``: label -> top-20 at each length), with single-stage levels (``lines``)."""
    fig, axes = _figure(figsize=(7, 3.6))
    ax = axes[0, 0]
    for label, values in curves.items():
        ax.plot(lengths, values, marker="o", label=label)
    for (label, value), style in zip(lines.items(), ((":", "grey"), ("--", "black"))):
        ax.axhline(value, ls=style[0], color=style[1], label=label)
    ax.set(xscale="log", xlabel="shortlist length R", ylabel="validation top-20 (%)", title=title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
