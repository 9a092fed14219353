"""The course's figures (clothlib.viz) on small synthetic inputs: each draws what its docstring says,
as many panels, images, bars and lines as its input holds, and returns its figure."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from PIL import Image  # noqa: E402

from clothlib import viz  # noqa: E402
from clothlib.data.classes import CLASSES  # noqa: E402

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def bars(ax) -> list[Rectangle]:
    return [patch for patch in ax.patches if isinstance(patch, Rectangle)]


def drawn(fig) -> list:
    """The axes that show something (a function turns the spare cells of its grid off)."""
    return [ax for ax in fig.axes if ax.axison or ax.images]


def test_class_bars_put_each_group_side_by_side_with_a_zero_line_for_changes():
    fig = viz.plot_class_bars({"train": np.full(13, 2.0), "val": np.full(13, 1.0), "test": np.full(13, 3.0)},
                              CLASSES, "% of pixels", log=True)
    (ax,) = fig.axes
    assert len(bars(ax)) == 3 * 13 and ax.get_yscale() == "log" and ax.get_legend() is not None
    assert [t.get_text() for t in ax.get_xticklabels()] == CLASSES
    change = viz.plot_class_bars({"CRF minus FCN": np.array([1.0, -2.0, np.nan])}, CLASSES[:3], "points",
                                 colours=["tab:green", "tab:red", "tab:red"]).axes[0]
    assert [b.get_height() for b in bars(change)] == [1.0, -2.0, 0.0], "a class without a value is drawn at 0"
    assert len(change.lines) == 1 and change.get_legend() is None


def test_label_frequencies_sort_every_panel_by_the_first():
    pixels, photos = np.array([1.0, 5.0, 3.0]), np.array([10, 20, 30])
    fig = viz.plot_label_frequencies({"pixels": pixels, "photos": photos}, ["null", "skirt", "hat"])
    assert len(fig.axes) == 2 and fig.axes[0].get_xscale() == "log"
    assert [b.get_width() for b in bars(fig.axes[0])] == [5.0, 3.0, 1.0]
    assert [b.get_width() for b in bars(fig.axes[1])] == [20, 30, 10], "the other panels follow the first's order"
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["skirt", "hat", "null"]


def test_label_panels_draw_photos_as_they_are_and_label_maps_in_the_palette():
    photo = RNG.integers(0, 255, (8, 6, 3), dtype=np.uint8)
    labels = RNG.integers(0, 13, (8, 6))
    rows = [[("photo", photo), ("truth", labels), ("FCN", labels)]] * 2
    fig = viz.plot_label_panels(rows, CLASSES)
    assert len(fig.axes) == 6 and all(len(ax.images) == 1 for ax in fig.axes)
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), photo)
    np.testing.assert_array_equal(fig.axes[1].images[0].get_array(), viz.palette(13)[labels])
    assert fig.axes[2].get_legend() is not None and len(fig.axes[2].get_legend().get_patches()) == 13


def test_histories_leave_a_run_out_of_the_panel_of_a_key_it_lacks():
    parsing = [{"epoch": e, "loss": 1 / e, "val_mean_iu": 10 * e} for e in (1, 2, 3)]
    pairs_only = [{"epoch": e, "loss": 2 / e} for e in (1, 2)]
    fig = viz.plot_histories({"net1": parsing, "yours": pairs_only}, {"loss": "loss", "val_mean_iu": "IU"},
                             dashed=("yours",))
    loss, iu = fig.axes
    assert len(loss.lines) == 2 and len(iu.lines) == 1
    assert loss.lines[1].get_linestyle() == "--" and list(loss.lines[0].get_xdata()) == [1, 2, 3]


def test_history_keys_put_an_entry_before_training_at_epoch_zero():
    curve = [{"val_top1": 5.0}, {"epoch": 1, "val_top1": 7.0}, {"epoch": 2, "val_top1": 8.0}]
    (ax,) = viz.plot_history_keys(curve, {"val_top1": "top1"}, "tuning").axes
    assert len(ax.lines) == 1 and list(ax.lines[0].get_xdata()) == [0, 1, 2]


def test_confusion_writes_the_shares_of_five_percent_or_more():
    matrix = np.array([[0.9, 0.1, 0.0], [0.02, 0.98, 0.0], [0.3, 0.3, 0.4]])
    fig = viz.plot_confusion(matrix, ["a", "b", "c"], "confusion")
    ax = fig.axes[0]
    assert len(fig.axes) == 2, "the matrix and its colour bar"
    assert sorted(t.get_text() for t in ax.texts) == sorted(["0.90", "0.10", "0.98", "0.30", "0.30", "0.40"])


def test_crf_tradeoff_shows_every_setting_the_curve_and_the_budget():
    runs = [{"cpu_s_p95": s, "mean_iu": m} for s, m in ((0.1, 50), (0.2, 52), (0.3, 51))]
    search = {"runs": runs, "trade_off": runs[:2], "time_bound_s": 0.25, "split": "val"}
    (ax,) = viz.plot_crf_tradeoff(search, "search").axes
    assert len(ax.collections[0].get_offsets()) == 3
    assert len(ax.lines) == 2 and list(ax.lines[0].get_xdata()) == [0.1, 0.2] and ax.lines[1].get_xdata()[0] == 0.25


def write_view(path, colour):
    Image.fromarray(np.full((16, 16, 3), colour, np.uint8)).save(path)


def test_item_making_outlines_every_item_and_the_first_ones_box():
    photo = RNG.integers(0, 255, (40, 30, 3), dtype=np.uint8)
    classes = np.zeros((40, 30), np.int64)
    classes[5:20, 5:25] = CLASSES.index("skirt")
    items = [{"category": "skirt", "x0": 5, "y0": 5, "x1": 25, "y1": 20},
             {"category": "shoes", "x0": 0, "y0": 30, "x1": 10, "y1": 40}]
    view = np.full((16, 16, 3), 255, np.uint8)
    fig = viz.plot_item_making(photo, classes, items, classes > 0, view, view, "photo 1")
    photo_ax, overlay_ax, mask_ax, consumer_ax, shop_ax = fig.axes
    assert len(bars(photo_ax)) == 2 and len(bars(mask_ax)) == 1
    assert (bars(mask_ax)[0].get_width(), bars(mask_ax)[0].get_height()) == (20, 15)
    assert all(len(ax.images) == 1 for ax in fig.axes)


def test_region_areas_stack_the_classes_and_mark_the_minimum():
    candidates = [("skirt", 0.01), ("skirt", 0.2), ("bag", 0.001)]
    (ax,) = viz.plot_region_areas(candidates, 0.005, ["skirt", "bag"]).axes
    assert len(ax.containers) == 2, "one stacked layer per class"
    assert sum(b.get_height() for b in ax.containers[0]) == 2 and len(ax.lines) == 1


def test_view_pairs_show_both_views_of_each_item_and_turn_spare_cells_off(tmp_path):
    items = []
    for k in range(3):
        write_view(tmp_path / f"c{k}.jpg", 0)
        write_view(tmp_path / f"s{k}.jpg", 255)
        items.append({"item_id": f"i{k}", "consumer": f"c{k}.jpg", "shop": f"s{k}.jpg", "fine_category": "dress",
                      "colour": "red"})
    fig = viz.plot_view_pairs(tmp_path, items, "pairs", columns=2)
    assert len(fig.axes) == 2 * 2 * 2 and sum(len(ax.images) for ax in fig.axes) == 6
    assert fig.axes[0].get_title() == "i0" and fig.axes[1].get_title() == "dress, red"
    assert fig.axes[1].images[0].get_array().min() > 240, "the shop view beside its consumer view"


def test_attribute_counts_have_one_bar_per_value():
    rows = [{"colour": "red", "pattern": "solid"}, {"colour": "red", "pattern": "striped"}]
    fig = viz.plot_attribute_counts(rows, {"colour": ["red", "blue"], "pattern": ["solid", "striped", "dotted"]})
    assert len(drawn(fig)) == 2
    assert [b.get_height() for b in bars(fig.axes[0])] == [2, 0] and len(bars(fig.axes[1])) == 3


def test_length_histograms_mark_each_classes_cut_points():
    fig = viz.plot_length_histograms({"skirt": [0.2, 0.3, 0.5], "pants": [0.4, 0.6]},
                                     {"skirt": (0.25, 0.4), "pants": (0.5,)})
    assert [len(ax.lines) for ax in fig.axes] == [2, 1] and fig.axes[0].get_title() == "skirt (3)"


def test_similar_groups_count_items_per_id_and_list_the_largest():
    fig = viz.plot_similar_groups(["a", "a", "a", "b", "c"], largest=2)
    sizes, largest = fig.axes
    assert sum(b.get_height() for b in bars(sizes)) == 3, "three IDs"
    assert [b.get_width() for b in bars(largest)] == [1, 3], "the largest at the top"


def test_bit_statistics_show_balance_correlation_and_outputs():
    relaxed = RNG.uniform(-1, 1, (50, 8))
    fig = viz.plot_bit_statistics(relaxed, "codes")
    balance, correlation, outputs = fig.axes[:3]
    assert len(fig.axes) == 4, "three panels and the correlation's colour bar"
    np.testing.assert_allclose([b.get_height() for b in bars(balance)], (relaxed >= 0).mean(0))
    assert correlation.images[0].get_array().shape == (8, 8) and len(bars(outputs)) == 50


def test_hashing_diagrams_draw_one_panel_per_network():
    from clothlib.hashing import models

    networks = {name: models.HashingNet(name, 32, bits=16) for name in list(models.VARIANTS)[:3]}
    fig = viz.plot_hashing_diagrams(networks, 32)
    assert [ax.get_title() for ax in fig.axes[:3]] == list(networks) and not fig.axes[3].axison


def test_topk_curves_draw_one_line_per_method_in_each_protocol():
    curves = {"lsh": {"instance": [1, 2, 3], "similar": [2, 3, 4]},
              "catt3": {"instance": [2, 4, 6], "similar": [3, 5, 7]}}
    fig = viz.plot_topk_curves(curves, [1, 5, 20], "c2s")
    assert [len(ax.lines) for ax in fig.axes] == [2, 2] and fig.axes[1].get_title() == "similar protocol (c2s)"


def test_tie_groups_show_each_rule_and_the_span_of_tie_orders():
    top1 = {f"net {b}": {"gallery_order": 10, "expected": 8, "pessimistic": 2, "optimistic": 20} for b in (16, 48)}
    fig = viz.plot_tie_groups(np.array([1, 1, 2, 5]), top1, {"gallery_order": "gallery order", "expected": "expected"},
                              "ties")
    groups, rules = fig.axes
    assert sum(b.get_height() for b in bars(groups)) == 4
    points = [c for c in rules.collections if not isinstance(c, LineCollection)]
    spans = [c for c in rules.collections if isinstance(c, LineCollection)]
    assert len(points) == 2 and len(spans) == 1 and len(spans[0].get_segments()) == 2


def test_shortlists_draw_each_reranker_and_the_single_stage_levels():
    (ax,) = viz.plot_shortlists([10, 100], {"float": [30, 40], "asymmetric": [28, 35]},
                                {"Hamming alone": 25, "float alone": 41}, "two-stage").axes
    assert len(ax.lines) == 4 and ax.get_xscale() == "log"
    assert [line.get_ydata()[0] for line in ax.lines[2:]] == [25, 41]


def test_the_figures_are_returned_not_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fig = viz.plot_class_bars({"a": np.ones(3)}, ["x", "y", "z"], "share")
    assert isinstance(fig, plt.Figure) and not list(tmp_path.iterdir())
