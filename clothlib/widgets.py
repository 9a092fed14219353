"""ipywidgets explorers. Each one comes with a static figure, so a notebook reads well without a kernel."""
from __future__ import annotations

import matplotlib.pyplot as plt

from .data.ccp import label_names, read_class_mask, read_groundtruth, read_photo
from .data.classes import CLASSES
from .viz import show_mask_overlay


def plot_relabeling(photo_ids: list[str], alpha: float = 0.6):
    """One row per photo: the photo, its 59 CCP labels, its 13 classes (static figure)."""
    names = label_names()
    fig, axes = plt.subplots(len(photo_ids), 3, figsize=(12, 4.6 * len(photo_ids)), squeeze=False)
    for row, photo_id in zip(axes, photo_ids):
        photo = read_photo(photo_id)
        row[0].imshow(photo)
        row[0].set_title(f"photo {photo_id}")
        row[0].axis("off")
        show_mask_overlay(row[1], photo, read_groundtruth(photo_id), names, "59 CCP labels", alpha)
        show_mask_overlay(row[2], photo, read_class_mask(photo_id), CLASSES, "13 classes", alpha)
    fig.tight_layout()
    return fig


def relabeling_browser(photo_ids: list[str]):
    """A photo slider with a 59-label / 13-class toggle and an opacity slider."""
    import ipywidgets as widgets

    index = widgets.IntSlider(0, 0, len(photo_ids) - 1, description="photo")
    labels = widgets.ToggleButtons(options=["13 classes", "59 CCP labels"], description="labels")
    alpha = widgets.FloatSlider(0.6, min=0.0, max=1.0, step=0.1, description="opacity")
    out = widgets.Output()

    def draw(*_):
        photo_id = photo_ids[index.value]
        photo = read_photo(photo_id)
        if labels.value == "13 classes":
            mask, names = read_class_mask(photo_id), CLASSES
        else:
            mask, names = read_groundtruth(photo_id), label_names()
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(6, 6))
            show_mask_overlay(ax, photo, mask, names, f"photo {photo_id}: {labels.value}", alpha.value)
            plt.show()

    for control in (index, labels, alpha):
        control.observe(draw, names="value")
    draw()
    return widgets.VBox([widgets.HBox([index, alpha]), labels, out])


def crf_explorer(photo, probs, start, scale: float = 0.5):
    """Sliders for the CRF's kernels on one photo; shows FCN and CRF labels side by side.

    ``probs`` are the network's class probabilities (C x H x W); ``start`` the CRFParams to begin
    from. The CRF runs at ``scale`` of the photo so each change answers quickly.
    """
    import dataclasses

    import ipywidgets as widgets

    from .parsing.crf import refine
    from .viz import overlay, palette

    colours = palette(len(CLASSES))
    fcn_labels = probs.argmax(0)
    controls = {
        "bilateral_sxy": widgets.FloatLogSlider(start.bilateral_sxy, base=10, min=0.5, max=2.5, description="θα (px)"),
        "bilateral_srgb": widgets.FloatLogSlider(start.bilateral_srgb, base=10, min=0, max=2, description="θβ (rgb)"),
        "bilateral_weight": widgets.FloatSlider(start.bilateral_weight, min=0, max=30, step=0.5,
                                                description="w appear."),
        "gaussian_weight": widgets.FloatSlider(start.gaussian_weight, min=0, max=10, step=0.5, description="w smooth"),
        "iterations": widgets.IntSlider(start.iterations, min=0, max=10, description="iterations"),
    }
    out = widgets.Output()

    def draw(*_):
        params = dataclasses.replace(start, scale=scale, **{k: c.value for k, c in controls.items()})
        labels = refine(photo, probs, params)
        with out:
            out.clear_output(wait=True)
            fig, axes = plt.subplots(1, 2, figsize=(8, 6))
            axes[0].imshow(overlay(photo, fcn_labels, colours))
            axes[0].set_title("FCN")
            axes[1].imshow(overlay(photo, labels, colours))
            axes[1].set_title(f"FCN + CRF: {(labels != fcn_labels).mean():.1%} of pixels changed")
            for ax in axes:
                ax.axis("off")
            plt.show()

    for control in controls.values():
        control.observe(draw, names="value")
    draw()
    return widgets.VBox([widgets.HBox(list(controls.values())[:3]), widgets.HBox(list(controls.values())[3:]), out])


def query_explorer(export, k: int = 10, protocol: str = "instance"):
    """A slider over the queries of an encode export: the consumer view and its top-k shop views."""
    import ipywidgets as widgets

    from .retrieval import ranked_examples
    from .viz import plot_retrieval_rows

    index = widgets.IntSlider(0, 0, len(export["query_items"]) - 1, description="query")
    out = widgets.Output()

    def draw(*_):
        with out:
            out.clear_output(wait=True)
            plot_retrieval_rows(ranked_examples(export, [index.value], k, protocol))
            plt.show()

    index.observe(draw, "value")
    draw()
    return widgets.VBox([index, out])
