import numpy as np
import pytest

from clothlib.metrics import ConfusionMatrix


def test_hand_computed_matrix_with_ignored_pixels_and_an_absent_class():
    target = np.array([0, 0, 1, 1, 2, 255])
    prediction = np.array([0, 1, 1, 1, 0, 2])
    matrix = ConfusionMatrix(4)
    matrix.update(target, prediction)
    np.testing.assert_array_equal(matrix.mat, [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    overall, acc, iou = matrix.compute()
    assert overall == pytest.approx(3 / 5)
    np.testing.assert_allclose(acc[:3], [1 / 2, 1, 0])
    np.testing.assert_allclose(iou[:3], [1 / 3, 2 / 3, 0])
    assert np.isnan(acc[3]) and np.isnan(iou[3]), "class 3 is absent from both sides"
    summary = matrix.summary(["a", "b", "c", "d"])
    assert summary["mean_acc"] == pytest.approx(100 * 0.5)
    assert summary["mean_iu"] == pytest.approx(100 / 3, abs=1e-3)
    assert summary["per_class_iou"]["d"] is None


def test_a_class_predicted_but_never_true_counts_as_zero_iou():
    matrix = ConfusionMatrix(3)
    matrix.update(np.array([0, 0, 0, 0]), np.array([0, 0, 0, 1]))
    _, acc, iou = matrix.compute()
    assert np.isnan(acc[1]) and iou[1] == 0 and np.isnan(iou[2])
    assert matrix.summary()["mean_iu"] == pytest.approx(100 * (3 / 4 + 0) / 2)


def test_updates_accumulate_like_one_big_update():
    rng = np.random.default_rng(0)
    target, prediction = rng.integers(0, 5, 1000), rng.integers(0, 5, 1000)
    split = ConfusionMatrix(5)
    split.update(target[:300], prediction[:300])
    split.update(target[300:], prediction[300:])
    whole = ConfusionMatrix(5)
    whole.update(target, prediction)
    np.testing.assert_array_equal(split.mat, whole.mat)
    assert split.mat.sum() == 1000


def test_boundary_f_of_a_shifted_edge_depends_on_the_tolerance():
    from clothlib.metrics import BoundaryF, label_boundaries

    target = np.zeros((20, 20), dtype=np.uint8)
    target[:, 10:] = 1
    shifted = np.zeros_like(target)
    shifted[:, 12:] = 1
    assert label_boundaries(target).sum() == 20  # one vertical edge, 20 px long
    tight, loose = BoundaryF(tolerance=1), BoundaryF(tolerance=2)
    for metric in (tight, loose):
        metric.update(target, shifted)
    assert tight.compute()["boundary_f"] == 0.0
    assert loose.compute()["boundary_f"] == 100.0
    perfect = BoundaryF(tolerance=0)
    perfect.update(target, target)
    assert perfect.compute()["boundary_precision"] == 100.0
