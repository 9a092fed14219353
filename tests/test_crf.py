import numpy as np
import pytest

pytest.importorskip("pydensecrf")

from clothlib.parsing.crf import (
    CRFParams,
    bilateral_kernel_at,
    dense_crf,
    mean_field,
    pairwise_weights,
    refine,
    refine_split,
    timed_refine,
)

# A weak, local CRF whose marginals stay soft: the honest comparison (strong defaults saturate to one-hot).
LOCAL = CRFParams(gaussian_sxy=2, gaussian_weight=1, bilateral_sxy=10, bilateral_weight=2)


def two_regions(seed=0, height=24, width=32, noise=1.0):
    """A red left half and a blue right half, true labels 0 | 1, and noisy 3-class probabilities."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 2] = (200, 40, 40)
    image[:, width // 2:] = (40, 60, 200)
    image = np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)
    truth = np.zeros((height, width), np.int64)
    truth[:, width // 2:] = 1
    logits = rng.normal(0, noise, (3, height, width))
    logits[(truth, *np.indices(truth.shape))] += 1.0
    probs = np.exp(logits) / np.exp(logits).sum(0)
    return image, probs.astype(np.float32), truth


@pytest.mark.parametrize("params", [CRFParams(iterations=1), LOCAL], ids=["defaults-1-iteration", "local-5-iterations"])
def test_numpy_mean_field_agrees_with_pydensecrf(params):
    # Measured over 20 seeds: mean |difference| <= 0.0022, max <= 0.077 (a few pixels), argmax equal on
    # >= 99.4% of pixels. The gap is pydensecrf's permutohedral lattice approximating the exact Gaussians.
    image, probs, _ = two_regions()
    library, numpy = dense_crf(image, probs, params), mean_field(image, probs, params)
    assert np.abs(library - numpy).mean() < 0.005
    assert np.abs(library - numpy).max() < 0.1
    assert (library.argmax(0) == numpy.argmax(0)).mean() >= 0.99


def test_zero_iterations_return_the_input_probabilities():
    image, probs, _ = two_regions()
    params = CRFParams(iterations=0)
    np.testing.assert_allclose(dense_crf(image, probs, params), probs, atol=1e-6)
    np.testing.assert_allclose(mean_field(image, probs, params), probs, atol=1e-6)


def test_crf_fixes_a_noisy_label_map():
    image, probs, truth = two_regions(noise=1.5)
    before = (probs.argmax(0) == truth).mean()
    after = (refine(image, probs) == truth).mean()
    assert before < 0.6 and after > 0.95


def test_non_square_input_keeps_its_orientation():
    """DenseCRF2D takes width before height; mixed up, a vertical stripe would not come back vertical."""
    height, width = 40, 24
    stripe = np.zeros((height, width), bool)
    stripe[:, 10:14] = True
    image = np.where(stripe[..., None], 220, 30).astype(np.uint8).repeat(3, 2)
    rng = np.random.default_rng(0)
    foreground = np.clip(np.where(stripe, 0.6, 0.4) + rng.normal(0, 0.15, stripe.shape), 0, 1)
    probs = np.stack([1 - foreground, foreground]).astype(np.float32)
    assert (probs.argmax(0) == stripe).mean() < 0.8
    labels = refine(image, probs)
    assert labels.shape == (height, width)
    np.testing.assert_array_equal(labels, stripe)


@pytest.mark.parametrize("image, probs, message", [
    (np.zeros((8, 6, 3), np.uint8), np.full((2, 6, 8), 0.5, np.float32), "height x width"),
    (np.zeros((8, 6, 3), np.float32), np.full((2, 8, 6), 0.5, np.float32), "uint8"),
    (np.zeros((8, 6, 4), np.uint8), np.full((2, 8, 6), 0.5, np.float32), "H x W x 3"),
    (np.zeros((8, 6, 3), np.uint8), np.full((8, 6, 2), 0.5, np.float32), "height x width"),
    (np.zeros((8, 6, 3), np.uint8), np.zeros((2, 8, 6), np.int64), "floating-point"),
    (np.zeros((8, 6, 3), np.uint8), np.full((2, 8, 6), 3.0, np.float32), "softmax"),
])
def test_bad_inputs_say_what_is_wrong(image, probs, message):
    with pytest.raises(ValueError, match=message):
        dense_crf(image, probs)


def test_bad_params_and_big_images_are_refused():
    with pytest.raises(ValueError, match="scale"):
        CRFParams(scale=0)
    with pytest.raises(ValueError, match="dense_crf"):
        pairwise_weights(np.zeros((100, 100, 3), np.uint8))


def test_params_round_trip_through_a_dict():
    params = CRFParams(iterations=3, scale=0.5)
    assert CRFParams.from_dict({**params.to_dict(), "unknown": 1}) == params


def test_downscaled_crf_returns_full_size_marginals():
    image, probs, truth = two_regions(height=60, width=80)
    refined = dense_crf(image, probs, CRFParams(scale=0.5))
    assert refined.shape == probs.shape and refined.dtype == np.float32
    np.testing.assert_allclose(refined.sum(0), 1, atol=1e-4)
    assert (refined.argmax(0) == truth).mean() > 0.95
    assert mean_field(image, probs, CRFParams(scale=0.5)).shape == probs.shape  # 4800 pixels, run at 1200


def test_bilateral_kernel_is_one_at_the_pixel_and_small_across_the_colour_edge():
    image, _, _ = two_regions()
    weights = bilateral_kernel_at(image, 5, 3, CRFParams())
    assert weights.shape == image.shape[:2] and weights[5, 3] == 1
    assert weights[:, :16].mean() > 0.1 > 1e-3 > weights[:, 16:].max()


def _load(photo_id):
    image, probs, _ = two_regions(seed=int(photo_id))
    return image, probs


def test_refine_split_in_processes_matches_serial_refine():
    ids = [str(seed) for seed in range(5)]
    parallel = list(refine_split(ids, _load, LOCAL, workers=2, progress=False))
    assert [photo_id for photo_id, _ in parallel] == ids
    for photo_id, labels in parallel:
        np.testing.assert_array_equal(labels, refine(*_load(photo_id), LOCAL))


def test_timed_refine_returns_the_labels_and_the_cpu_seconds_of_the_worker():
    """The search times each photo in the worker that refines it: the seconds must come back with the labels."""
    ids = [str(seed) for seed in range(3)]
    for photo_id, (labels, seconds) in refine_split(ids, _load, LOCAL, workers=2, progress=False,
                                                   refiner=timed_refine):
        np.testing.assert_array_equal(labels, refine(*_load(photo_id), LOCAL))
        assert 0 < seconds < 5
