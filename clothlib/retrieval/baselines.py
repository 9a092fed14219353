"""Unsupervised hashing baselines on the same float features the deep codes come from.

A deep hashing network has to beat these to earn its training: LSH (random hyperplanes, no
learning at all) and ITQ (Gong & Lazebnik, CVPR 2011: PCA, then the rotation that loses least
when the projections are rounded to +-1). Fit them on TRAINING features only; encoding the
query and gallery with a model fitted on them would let the test set shape its own codes.
"""
from __future__ import annotations

import numpy as np

from .codes import binarize, pack_codes

ITQ_ITERATIONS = 50  # the paper's setting; the loss has flattened by then


def _training_matrix(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"expected one feature row per item, an (N, D) array; got shape {features.shape}")
    return features


class LSH:
    """Sign random projections (Charikar 2002) of mean-centred features: ``bits`` Gaussian
    hyperplanes through the training mean, so each bit splits the data roughly in half."""

    def __init__(self, bits: int, seed: int = 0):
        self.bits, self.seed = bits, seed

    def fit(self, features: np.ndarray) -> LSH:
        features = _training_matrix(features)
        self.mean = features.mean(axis=0)
        self.planes = np.random.default_rng(self.seed).standard_normal((features.shape[1], self.bits))
        return self

    def encode(self, features: np.ndarray) -> np.ndarray:
        """Packed codes, ``(N, ceil(bits / 8))`` uint8."""
        return pack_codes(binarize((np.asarray(features, dtype=np.float64) - self.mean) @ self.planes))


class ITQ:
    """Iterative quantisation: project centred features onto their top ``bits`` principal
    components (V), then alternate B = sign(V R) and the orthogonal R minimising ||B - V R||^2
    (an orthogonal Procrustes problem, solved by one SVD). Each half-step can only lower the
    loss; ``losses`` keeps it per iteration (the first entry is the random start)."""

    def __init__(self, bits: int, iterations: int = ITQ_ITERATIONS, seed: int = 0):
        self.bits, self.iterations, self.seed = bits, iterations, seed

    def fit(self, features: np.ndarray) -> ITQ:
        features = _training_matrix(features)
        if self.bits > min(features.shape):
            raise ValueError(f"ITQ needs at least {self.bits} training items and feature dimensions for "
                             f"{self.bits} bits (PCA to {self.bits} dims); got features of shape {features.shape}")
        self.mean = features.mean(axis=0)
        centred = features - self.mean
        _, _, components = np.linalg.svd(centred, full_matrices=False)
        self.projection = components[:self.bits].T
        projected = centred @ self.projection
        self.rotation, _ = np.linalg.qr(np.random.default_rng(self.seed).standard_normal((self.bits, self.bits)))
        codes, loss = self._quantise(projected)
        self.losses = [loss]
        for _ in range(self.iterations):
            u, _, vt = np.linalg.svd(projected.T @ codes)
            self.rotation = u @ vt
            codes, loss = self._quantise(projected)
            self.losses.append(loss)
        return self

    def _quantise(self, projected: np.ndarray) -> tuple[np.ndarray, float]:
        """The best +-1 codes B for the current rotation, and the loss ||B - V R||^2."""
        rotated = projected @ self.rotation
        codes = np.where(rotated >= 0, 1.0, -1.0)
        return codes, float(((codes - rotated) ** 2).sum())

    def encode(self, features: np.ndarray) -> np.ndarray:
        """Packed codes, ``(N, ceil(bits / 8))`` uint8."""
        centred = np.asarray(features, dtype=np.float64) - self.mean
        return pack_codes(binarize(centred @ self.projection @ self.rotation))
