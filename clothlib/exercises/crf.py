"""Notebook 03's exercise: one mean-field update of the dense CRF."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .core import Case, Outcome, as_array, close, first_difference, run_cases, shape_hint, trajectory


def _softmax_classes(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(0))
    return exp / exp.sum(0)


def _iterate(step: Callable, probs: np.ndarray, weights: np.ndarray, iterations: int) -> np.ndarray:
    """Apply ``step(probs, q, weights)`` ``iterations`` times from q = the network's probabilities."""
    return trajectory(lambda q: step(probs, q, weights), probs / probs.sum(0), iterations)


def check_mean_field_step(mean_field_step: Callable) -> Outcome:
    """Notebook 03. ``mean_field_step(probs, q, weights)`` is one mean-field update of the dense CRF:
    ``probs`` the network's C x N probabilities (N pixels, row-major), ``q`` the current C x N marginals,
    ``weights`` the N x N matrix ``crf.pairwise_weights`` gives (w_g K_g + w_b K_b). It returns the new
    marginals, Q_i(l) proportional to p_i(l) exp(sum_j W_ij Q_j(l)), p clipped at 1e-8 like the library's
    unary. Applied ``iterations`` times from q = probs it must give ``crf.mean_field``."""
    from ..parsing import crf

    rng = np.random.default_rng(3)
    settings = [("one update on a 5 x 6 image with 4 classes", 5, 6, 4, 1, False),
                ("three updates in a row (each starts from the last q)", 5, 6, 4, 3, False),
                ("a 1 x 1 image", 1, 1, 3, 1, False),
                ("a probability of exactly 0 on a few pixels of a plain image whose other pixels all say that "
                 "class", 4, 4, 2, 2, True)]
    cases = []
    for name, height, width, classes, iterations, zeros in settings:
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        probs = rng.dirichlet(np.ones(classes), size=height * width).T
        params = crf.CRFParams(iterations=iterations)
        if zeros:  # one colour, so the appearance kernel links every pixel, and a strong pull towards class 0
            image[:] = (200, 30, 60)
            probs[0], probs[1] = 0.99, 0.01
            probs[0, ::5], probs[1, ::5] = 0.0, 1.0
            params = crf.CRFParams(iterations=iterations, bilateral_weight=30.0)
        weights = crf.pairwise_weights(image, params)
        expected = crf.mean_field(image, probs.reshape(classes, height, width), params).reshape(classes, -1)

        def call(student, probs=probs, weights=weights, iterations=iterations):
            return _iterate(lambda p, q, w: as_array(student(p.copy(), q.copy(), w.copy())), probs, weights, iterations)

        cases.append(Case(name, (probs, weights, iterations), expected, data={"zeros": zeros}, call=call))

    return run_cases("check_mean_field_step", mean_field_step, cases, _judge_mean_field)


def _judge_mean_field(case: Case, result) -> str | None:
    got, expected = as_array(result), case.expected
    probs, weights, iterations = case.args
    hint = shape_hint(got, expected, "classes x pixels, like probs and q")
    if hint:
        return hint
    if close(got, expected):
        return None
    sums = got.sum(0)
    if not np.allclose(sums, 1, atol=1e-4):
        if np.allclose(got.sum(1), 1, atol=1e-4):
            return ("you normalised over the pixels (axis 1): each pixel's marginals sum to 1 over the classes "
                    "(axis 0)")
        return ("each pixel's marginals must sum to 1 over the classes: normalise along axis 0 (a softmax over "
                "classes)")
    with np.errstate(divide="ignore"):
        if case.data["zeros"] and close(got, _iterate(lambda p, q, w: _softmax_classes(np.log(p) + q @ w),
                                                       probs, weights, iterations), atol=1e-4):
            return ("clip p at 1e-8 before the log, as the library's unary does: with -log 0 = infinity a label "
                    "the network ruled out could never come back, however strongly its neighbours vote for it")
        variants = {
            "the pairwise term rewards agreement: add q @ weights to log p, do not subtract it (a neighbour j "
            "holding label l pulls pixel i towards l)": lambda p, q, w: _softmax_classes(np.log(p) - q @ w),
            "the unary is -log p: start from log p (or multiply p by exp(q @ weights)), not from p itself":
                lambda p, q, w: _softmax_classes(p + q @ w),
            "keep the unary: the new marginals come from log p + q @ weights, not from q @ weights alone":
                lambda p, q, w: _softmax_classes(q @ w),
            "the message uses the current marginals q, not the network's probabilities: log p + q @ weights":
                lambda p, q, w: _softmax_classes(np.log(p) + p @ w),
        }
        for hint, variant in variants.items():
            if close(got, _iterate(variant, probs, weights, iterations), atol=1e-4):
                return hint
    label, pixel = first_difference(got, expected, atol=1e-4)
    return (f"after {iterations} update(s) q[{label}, {pixel}] = {got[label, pixel]:.5f}, expected "
            f"{expected[label, pixel]:.5f}: q_new = softmax over classes of (log p + q @ weights)")
