"""Dense CRF refinement of parsing probabilities (paper §2.2; Krähenbühl & Koltun 2011).

The energy is a unary term, -log of the network's probability, plus a Potts penalty between every
pair of pixels weighted by two Gaussian kernels: a smoothness kernel on position (x, y) and an
appearance (bilateral) kernel on (x, y, R, G, B). ``dense_crf`` runs the fast permutohedral-lattice
implementation of ``pydensecrf``; ``mean_field`` is the same inference written out in NumPy with
exact N x N kernels, for reading and for small images only. ``CRFParams`` is the one place the CRF
settings live.

Two conventions of ``pydensecrf`` are followed (and checked in ``tests/test_crf.py``): each kernel
is normalised symmetrically, D^-1/2 K D^-1/2 with D the kernel's row sums (a pixel counts itself),
and a kernel's bandwidth ``s`` means exp(-d^2 / (2 s^2)) in pixels or colour levels.
"""
from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..config import progress_bar

MEAN_FIELD_MAX_PIXELS = 64 * 64  # the NumPy version builds N x N float32 matrices: 64 MB each at 4096


@dataclass(frozen=True)
class CRFParams:
    """Kernel bandwidths (pixels of the original photo, RGB levels), Potts weights, iterations.

    ``scale`` < 1 runs the CRF on a copy shrunk by that factor (pixel bandwidths shrink with it)
    and upsamples the refined probabilities back: much faster, nearly the same labels.
    """

    gaussian_sxy: float = 3.0
    gaussian_weight: float = 3.0
    bilateral_sxy: float = 80.0
    bilateral_srgb: float = 13.0
    bilateral_weight: float = 10.0
    iterations: int = 5
    scale: float = 1.0

    def __post_init__(self):
        if not 0 < self.scale <= 1:
            raise ValueError(f"scale must be in (0, 1], got {self.scale}")
        if self.iterations < 0:
            raise ValueError(f"iterations must be >= 0, got {self.iterations}")
        if min(self.gaussian_sxy, self.bilateral_sxy, self.bilateral_srgb) <= 0:
            raise ValueError("kernel bandwidths must be positive")

    def at_scale(self) -> CRFParams:
        """The same CRF for the photo shrunk by ``scale``: pixel bandwidths shrink, colour ones don't."""
        return dataclasses.replace(self, gaussian_sxy=self.gaussian_sxy * self.scale,
                                   bilateral_sxy=self.bilateral_sxy * self.scale, scale=1.0)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> CRFParams:
        """Ignores unknown keys, so a results file with extra fields loads."""
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in fields})


def _checked(image, probs) -> tuple[np.ndarray, np.ndarray]:
    """The inputs as C-contiguous uint8 H x W x 3 and float32 C x H x W, or a ValueError saying
    what is wrong. A non-uint8 image is rejected rather than cast: a float image in [0, 1] cast to
    uint8 would silently become black."""
    image, probs = np.asarray(image), np.asarray(probs)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be H x W x 3 (RGB), got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (0-255), got {image.dtype}; convert a float image in [0, 1] "
                         "with (image * 255).round().astype(np.uint8)")
    if probs.ndim != 3 or probs.shape[0] < 2:
        raise ValueError(f"probs must be classes x H x W with at least 2 classes, got shape {probs.shape}")
    if not np.issubdtype(probs.dtype, np.floating):
        raise ValueError(f"probs must be floating-point probabilities, got {probs.dtype}")
    if probs.shape[1:] != image.shape[:2]:
        raise ValueError(f"probs are {probs.shape[1]} x {probs.shape[2]} but the image is {image.shape[0]} x "
                         f"{image.shape[1]} (height x width): probabilities must be classes x H x W at the "
                         "photo's size, as predict_scores returns them")
    if not np.isfinite(probs).all() or probs.min() < 0 or probs.max() > 1 + 1e-3:
        raise ValueError("probs must be probabilities in [0, 1]; network scores (logits) need a softmax first")
    return np.ascontiguousarray(image), np.ascontiguousarray(probs, dtype=np.float32)


def _unary(probs: np.ndarray) -> np.ndarray:
    """-log p as C x N float32, the layout pydensecrf requires (clipped so log(0) stays finite)."""
    return np.ascontiguousarray(-np.log(np.clip(probs, 1e-8, None)).reshape(len(probs), -1), dtype=np.float32)


def resize_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))


def resize_probs(probs: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear per class (antialiased when shrinking); weights sum to one, so each pixel still does."""
    return np.stack([np.asarray(Image.fromarray(p).resize((width, height), Image.BILINEAR))
                     for p in probs.astype(np.float32, copy=False)])


def _at_scale(crf: Callable, image: np.ndarray, probs: np.ndarray, params: CRFParams) -> np.ndarray:
    """Run ``crf`` at ``params.scale`` of the photo's size and return marginals at full size."""
    if params.scale == 1:
        return crf(image, probs, params)
    height, width = image.shape[:2]
    small_height, small_width = max(1, round(height * params.scale)), max(1, round(width * params.scale))
    small = crf(resize_image(image, small_height, small_width), resize_probs(probs, small_height, small_width),
                params.at_scale())
    return resize_probs(small, height, width)


def _pydensecrf(image: np.ndarray, probs: np.ndarray, params: CRFParams) -> np.ndarray:
    try:
        import pydensecrf.densecrf as dcrf
    except ImportError as err:
        raise ImportError("the dense CRF needs pydensecrf: pip install pydensecrf2 "
                          "(or pip install -e '.[crf]')") from err
    n_labels, height, width = probs.shape
    crf = dcrf.DenseCRF2D(width, height, n_labels)  # width first: the library's order, not NumPy's
    crf.setUnaryEnergy(_unary(probs))
    crf.addPairwiseGaussian(sxy=params.gaussian_sxy, compat=params.gaussian_weight)  # a number = Potts
    writable_image = np.require(image, requirements=["C", "W"])  # the binding refuses read-only buffers
    crf.addPairwiseBilateral(sxy=params.bilateral_sxy, srgb=params.bilateral_srgb, rgbim=writable_image,
                             compat=params.bilateral_weight)
    return np.array(crf.inference(params.iterations), dtype=np.float32).reshape(n_labels, height, width)


def dense_crf(image: np.ndarray, probs: np.ndarray, params: CRFParams = CRFParams()) -> np.ndarray:
    """Refined marginals (C x H x W float32) of the dense CRF whose unary is -log ``probs``.

    ``image`` is the H x W x 3 uint8 photo; ``probs`` the network's C x H x W probabilities at the
    same size (a NumPy array or CPU tensor, e.g. from ``predict_scores``).
    """
    image, probs = _checked(image, probs)
    return _at_scale(_pydensecrf, image, probs, params)


def refine(image: np.ndarray, probs: np.ndarray, params: CRFParams = CRFParams()) -> np.ndarray:
    """The CRF's labels: H x W uint8, the most probable class per pixel."""
    return dense_crf(image, probs, params).argmax(0).astype(np.uint8)


def timed_refine(image: np.ndarray, probs: np.ndarray, params: CRFParams = CRFParams()) -> tuple[np.ndarray, float]:
    """``refine``'s labels and the CPU seconds it took (``time.process_time``: this process's CPU
    time, all its threads summed, so the figure is one core's worth and the time spent waiting for a
    core on a busy machine is not counted; sharing caches or a hyper-threaded core still slows it, so
    time on a quiet machine)."""
    start = time.process_time()
    labels = refine(image, probs, params)
    return labels, time.process_time() - start


# ---- the same inference in NumPy, for teaching ------------------------------------------------------

def _position_features(height: int, width: int, sxy: float) -> np.ndarray:
    """(x, y) / sxy per pixel, N x 2 in row-major pixel order (the library's order)."""
    rows, cols = np.mgrid[:height, :width]
    return np.stack([cols.ravel(), rows.ravel()], axis=1) / sxy


def _bilateral_features(image: np.ndarray, sxy: float, srgb: float) -> np.ndarray:
    """(x, y) / sxy and (R, G, B) / srgb per pixel, N x 5."""
    colours = image.reshape(-1, 3) / srgb
    return np.hstack([_position_features(*image.shape[:2], sxy), colours])


def _normalised_kernel(features: np.ndarray) -> np.ndarray:
    """N x N Gaussian affinities exp(-|f_i - f_j|^2 / 2), normalised symmetrically: D^-1/2 K D^-1/2."""
    features = features.astype(np.float32)  # float32 like the library, and half the memory
    squared = sum((features[:, None, k] - features[None, :, k]) ** 2 for k in range(features.shape[1]))
    kernel = np.exp(-0.5 * squared)
    inv_sqrt_degree = 1 / np.sqrt(kernel.sum(1))
    return kernel * inv_sqrt_degree[:, None] * inv_sqrt_degree[None, :]


def pairwise_weights(image: np.ndarray, params: CRFParams = CRFParams()) -> np.ndarray:
    """N x N matrix w_g K_g + w_b K_b: how strongly each pixel pulls every other towards its label."""
    height, width = image.shape[:2]
    if height * width > MEAN_FIELD_MAX_PIXELS:
        raise ValueError(f"the NumPy mean field holds an N x N matrix; {height} x {width} pixels is over "
                         f"{MEAN_FIELD_MAX_PIXELS}: use a smaller image, CRFParams(scale=...) or dense_crf")
    smoothness = _normalised_kernel(_position_features(height, width, params.gaussian_sxy))
    appearance = _normalised_kernel(_bilateral_features(image, params.bilateral_sxy, params.bilateral_srgb))
    return params.gaussian_weight * smoothness + params.bilateral_weight * appearance


def _softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(0))
    return exp / exp.sum(0)


def _numpy_mean_field(image: np.ndarray, probs: np.ndarray, params: CRFParams) -> np.ndarray:
    n_labels, height, width = probs.shape
    unary = _unary(probs).astype(np.float64)                  # C x N
    weights = pairwise_weights(image, params)                 # N x N, symmetric
    q = _softmax(-unary)                                      # iteration 0: the network's probabilities
    for _ in range(params.iterations):
        # Potts: a pixel pays w k(i, j) for each neighbour j with a DIFFERENT label, which is (up to a
        # per-pixel constant that the softmax removes) a reward of w k(i, j) Q_j(l) for agreeing on l.
        q = _softmax(-unary + q @ weights)
    return q.reshape(n_labels, height, width).astype(np.float32)


def mean_field(image: np.ndarray, probs: np.ndarray, params: CRFParams = CRFParams()) -> np.ndarray:
    """``dense_crf`` in plain NumPy with exact kernels: the mean-field update written out.

    Each iteration sets Q_i(l) proportional to p_i(l) exp(sum_j W_ij Q_j(l)) with W from
    ``pairwise_weights``. Costs O(N^2) memory and time, so only for small images (at most
    ``MEAN_FIELD_MAX_PIXELS`` after ``scale``).
    """
    image, probs = _checked(image, probs)
    return _at_scale(_numpy_mean_field, image, probs, params)


def bilateral_kernel_at(image: np.ndarray, y: int, x: int, params: CRFParams = CRFParams()) -> np.ndarray:
    """H x W appearance-kernel weights exp(-|f_i - f_(y,x)|^2 / 2) between pixel (y, x) and every
    pixel (1 at itself, before normalisation): which pixels it pulls towards its own label.
    Linear in the number of pixels, so it works on whole photos."""
    image = np.asarray(image)
    features = _bilateral_features(image, params.bilateral_sxy, params.bilateral_srgb)
    centre = features[y * image.shape[1] + x]
    return np.exp(-0.5 * ((features - centre) ** 2).sum(1)).reshape(image.shape[:2])


# ---- many photos ----------------------------------------------------------------------------------

def refine_split(photo_ids: Sequence[str], load: Callable[[str], tuple[np.ndarray, np.ndarray]],
                 params: CRFParams = CRFParams(), workers: int = 2, progress: bool = True,
                 refiner: Callable = refine) -> Iterator[tuple[str, object]]:
    """Yield ``(photo_id, labels)`` for each photo, in order, refining in ``workers`` processes
    (``(photo_id, (labels, cpu seconds))`` with ``refiner=timed_refine``).

    ``load(photo_id) -> (image, probs)`` runs in this process (it may hold the network), so it need
    not be picklable; only the CRF runs in the workers. At most ``2 * workers`` photos are in flight,
    so a split's probabilities never sit in memory together. It is a generator: iterate it, e.g.
    ``for photo_id, labels in refine_split(...)`` or ``dict(refine_split(...))``.
    """
    pending = deque()
    with ProcessPoolExecutor(workers) as pool, \
            progress_bar(total=len(photo_ids), enabled=progress, desc="dense CRF") as bar:
        for photo_id in photo_ids:
            image, probs = load(photo_id)
            # a tensor from predict_scores travels to the worker as a plain array
            pending.append((photo_id, pool.submit(refiner, np.asarray(image), np.asarray(probs), params)))
            if len(pending) == 2 * workers:
                yield _collect(pending, bar)
        while pending:
            yield _collect(pending, bar)


def _collect(pending: deque, bar) -> tuple[str, object]:
    """Wait for the oldest photo in flight."""
    photo_id, future = pending.popleft()
    labels = future.result()
    bar.update()
    return photo_id, labels
