"""Notebook 03's exercise: one mean-field update of the dense CRF."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .core import Case, Outcome, as_array, close, first_difference, first_match, run_cases, shape_hint, trajectory


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


# ---- notebook 03's build exercise: the whole mean-field loop -----------------------------------------

def mean_field_free_energy(unary: np.ndarray, weights: np.ndarray, q: np.ndarray) -> float:
    """F(Q) = sum Q U + sum Q log Q - 1/2 sum_ij W_ij Q_i . Q_j: KL(Q || P) less P's log-partition (a
    constant), for the CRF whose update the library runs (Potts as a reward for agreeing, the diagonal's
    self-vote included). W is a sum of Gaussian kernel matrices, so positive semi-definite: the parallel
    update is a concave-convex step on F (Krähenbühl & Koltun 2013), and F never rises."""
    q = np.asarray(q, dtype=np.float64)
    entropy_term = (q * np.log(np.clip(q, 1e-300, None))).sum()
    return float((q * unary).sum() + entropy_term - 0.5 * (q * (q @ weights)).sum())


def _loop(unary: np.ndarray, weights: np.ndarray, iterations: int, start: np.ndarray | None = None,
          unary_sign: float = -1.0, pair_sign: float = 1.0, fixed_message: bool = False) -> np.ndarray:
    """A mean-field loop with one knob per mistake; the defaults are the library's loop."""
    q = _softmax_classes(-unary) if start is None else start
    first = q
    for _ in range(iterations):
        q = _softmax_classes(unary_sign * unary + pair_sign * (first if fixed_message else q) @ weights)
    return q


def check_mean_field(mean_field_inference: Callable) -> Outcome:
    """Notebook 03's build exercise. ``mean_field_inference(unary, kernels, kernel_weights, iterations)``
    runs the dense CRF's whole mean-field loop: ``unary`` the C x N energies -log p (p clipped at 1e-8),
    ``kernels`` normalised N x N Gaussian kernels (diagonal kept, as ``crf.pairwise_weights`` builds
    them), ``kernel_weights`` their Potts weights. It returns ``(q, energies)``: the C x N marginals after
    ``iterations`` updates from Q_0 = softmax(-U), and the free energy (:func:`mean_field_free_energy`,
    compared up to an additive constant) of Q_0 ... Q_T. The marginals after every iteration count are
    compared with ``crf.mean_field`` (the library's loop), so the whole trajectory must match."""
    from ..parsing import crf

    rng = np.random.default_rng(31)
    settings = [("a 5 x 6 image with 4 classes, 3 iterations", 5, 6, 4, 3, {}),
                ("a 1 x 1 image with 3 classes, 2 iterations", 1, 1, 3, 2, {}),
                ("a plain 8 x 7 image with 3 classes and strong kernels (weights 5 and 30), 5 iterations", 8, 7, 3, 5,
                 {"gaussian_weight": 5.0, "bilateral_weight": 30.0})]
    cases = []
    for name, height, width, classes, iterations, strong in settings:
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        if strong:
            image[:] = (40, 120, 200)
        probs = rng.dirichlet(np.ones(classes), size=height * width).T.reshape(classes, height, width)
        params = crf.CRFParams(**strong)
        kernels = [crf.pairwise_weights(image, crf.CRFParams(**{**params.to_dict(), **one}))
                   for one in ({"bilateral_weight": 0.0, "gaussian_weight": 1.0},
                               {"gaussian_weight": 0.0, "bilateral_weight": 1.0})]
        kernel_weights = [params.gaussian_weight, params.bilateral_weight]
        unary = -np.log(np.clip(probs, 1e-8, None)).reshape(classes, -1)
        weights = crf.pairwise_weights(image, params)
        trajectory_q = [crf.mean_field(image, probs, crf.CRFParams(**{**params.to_dict(), "iterations": t}))
                        .reshape(classes, -1).astype(np.float64) for t in range(iterations + 1)]
        energies = np.array([mean_field_free_energy(unary, weights, q) for q in trajectory_q])

        def call(student, args=(unary, kernels, kernel_weights, iterations)):
            return [student(args[0].copy(), [k.copy() for k in args[1]], list(args[2]), t)
                    for t in range(args[3] + 1)]

        cases.append(Case(name, (unary, kernels, kernel_weights, iterations),
                          {"q": trajectory_q, "energies": energies}, data={"weights": weights}, call=call))
    return run_cases("check_mean_field", mean_field_inference, cases, _judge_loop)


def _loop_mistakes(unary: np.ndarray, weights: np.ndarray, kernels: list, t: int) -> list[tuple[str, np.ndarray]]:
    """(hint, the marginals that mistake gives after ``t`` iterations) for each mistake in the loop."""
    classes = len(unary)
    no_diagonal = weights - np.diag(np.diag(weights))
    return [
        ("the Potts sign is flipped, so disagreement is rewarded: a neighbour's vote for l must make l MORE likely "
         "(softmax of -U + Q W, or of -U - mu(Q W) with mu = 1 - I)", _loop(unary, weights, t, pair_sign=-1.0)),
        ("the unaries enter with the wrong sign: U = -log p is an energy, so Q is proportional to exp(-U ...) "
         "(Q_0 = softmax(-U), each update softmax(-U + Q W))", _loop(unary, weights, t, unary_sign=1.0)),
        ("the unaries enter with the wrong sign: U = -log p is an energy, so Q is proportional to exp(-U ...) "
         "(Q_0 = softmax(-U), each update softmax(-U + Q W))",
         _loop(unary, weights, t, start=_softmax_classes(unary), unary_sign=1.0)),
        ("the library keeps each kernel's diagonal: a pixel votes for its own current label with weight W_ii (a "
         "self-vote, as pydensecrf's lattice filtering does); do not zero the diagonal",
         _loop(unary, no_diagonal, t)),
        ("one update too many: `iterations` updates after Q_0 (iterations = 0 returns softmax(-U))",
         _loop(unary, weights, t + 1)),
        ("one update too few: `iterations` updates after Q_0 (iterations = 0 returns softmax(-U))",
         _loop(unary, weights, max(t - 1, 0))),
        ("Q initialised uniformly: start from the network, Q_0 = softmax(-U) (the marginals with no pairwise term)",
         _loop(unary, weights, t, start=np.full_like(unary, 1 / classes))),
        ("weigh each kernel by its Potts weight: W = sum of kernel_weights[m] * kernels[m]",
         _loop(unary, sum(kernels), t)),
        ("each message uses the latest Q (Q_t W), not the initial Q_0 over and over",
         _loop(unary, weights, t, fixed_message=True)),
        ("keep the unaries: every update adds -U to the messages before normalising",
         _loop(np.zeros_like(unary), weights, t, start=_softmax_classes(-unary))),
    ]


def _judge_loop(case: Case, results) -> str | None:
    unary, kernels, _, _ = case.args
    for t, result in enumerate(results):
        if not isinstance(result, tuple | list) or len(result) != 2:
            return f"return a pair (q, energies), got {type(result).__name__}"
        got, expected = as_array(result[0]).astype(np.float64), case.expected["q"][t]
        hint = shape_hint(got, expected, "classes x pixels, like unary")
        if hint:
            return hint
        if close(got, expected, atol=1e-4):
            continue
        prefix = f"with iterations = {t}: "
        if not np.allclose(got.sum(0), 1, atol=1e-4):
            return prefix + ("normalise: each pixel's marginals must sum to 1 over the classes (axis 0), a softmax "
                             "over the labels after adding the unaries to the messages")
        hint = first_match(got, expected, _loop_mistakes(unary, case.data["weights"], kernels, t),
                           same=lambda a, b: close(a, b, atol=1e-4))
        if hint:
            return prefix + hint
        label, pixel = first_difference(got, expected, atol=1e-4)
        return prefix + (f"q[{label}, {pixel}] = {got[label, pixel]:.5f}, the library's {expected[label, pixel]:.5f}: "
                         "Q_0 = softmax(-U), then each update Q = softmax(-U + Q W), W = sum_m w_m K_m")
    return _energy_hint(case, [as_array(result[1]).astype(np.float64).ravel() for result in results])


def _energy_variants(unary: np.ndarray, weights: np.ndarray, q: np.ndarray) -> dict[str, float]:
    """{hint: the free energy that mistake computes} for the free energy of one Q."""
    entropy = (q * np.log(np.clip(q, 1e-300, None))).sum()
    agree = (q * (q @ weights)).sum()
    self_votes = (np.diag(weights) * (q * q).sum(0)).sum()
    unary_term = (q * unary).sum()
    return {"the entropy term enters as + sum Q log Q (F = expected energy minus the entropy)":
                unary_term - entropy - 0.5 * agree,
            "count each pair once: the pairwise term is 1/2 sum_ij W_ij Q_i . Q_j (the sum over i, j sees it twice)":
                unary_term + entropy - agree,
            "the pairwise term LOWERS F where neighbours agree (Potts rewards agreement): - 1/2 sum_ij W_ij Q_i . Q_j":
                unary_term + entropy + 0.5 * agree,
            "keep the diagonal in the pairwise term, as the update does (the self-vote): with i = j left out F is not "
            "what these updates decrease": unary_term + entropy - 0.5 * (agree - self_votes),
            "the unary term is + sum Q U (U = -log p is an energy)": -unary_term + entropy - 0.5 * agree}


def _energy_hint(case: Case, energies: list[np.ndarray]) -> str | None:
    unary, weights, expected = case.args[0], case.data["weights"], case.expected["energies"]
    for t, got in enumerate(energies):
        if len(got) != t + 1:
            missing = ", Q_0's (before any update) included" if len(got) == t else ""
            return (f"with iterations = {t}: return one energy per Q_0 ... Q_{t}, {t + 1} in all{missing}; got "
                    f"{len(got)}")
    got, scale = energies[-1], max(1.0, float(np.abs(expected).max()))
    if np.allclose(got - got[0], expected - expected[0], rtol=1e-4, atol=1e-5 * scale):
        return None
    for hint, variant in _energy_variants_by_step(unary, weights, case.expected["q"]).items():
        if np.allclose(got - got[0], variant - variant[0], rtol=1e-4, atol=1e-5 * scale):
            return hint
    rises = np.flatnonzero(np.diff(got) > 1e-6 * scale)
    if len(rises):
        return (f"your free energy rises at iteration {rises[0] + 1}: the update never raises F(Q) = sum Q U + sum Q "
                "log Q - 1/2 sum_ij W_ij Q_i . Q_j, so a term is wrong")
    step = int(np.flatnonzero(~np.isclose(got - got[0], expected - expected[0], rtol=1e-4, atol=1e-5 * scale))[0])
    return (f"energies[{step}] - energies[0] = {got[step] - got[0]:.5f}, expected {expected[step] - expected[0]:.5f}: "
            "F(Q) = sum Q U + sum Q log Q - 1/2 sum_ij W_ij Q_i . Q_j (up to a constant)")


def _energy_variants_by_step(unary: np.ndarray, weights: np.ndarray, qs: list) -> dict[str, np.ndarray]:
    by_step = [_energy_variants(unary, weights, q) for q in qs]
    return {hint: np.array([step[hint] for step in by_step]) for hint in by_step[0]}


def reference_mean_field(unary: np.ndarray, kernels: list, kernel_weights: list,
                         iterations: int) -> tuple[np.ndarray, list[float]]:
    """The library's answer to :func:`check_mean_field`'s exercise, ``(Q_T, free energies of Q_0 ... Q_T)``:
    what notebook 03 runs while the student's loop does not pass (its Q_T is ``crf.mean_field``'s)."""
    weights = sum(weight * kernel for weight, kernel in zip(kernel_weights, kernels, strict=True))
    marginals = [_softmax_classes(-unary)]
    for _ in range(iterations):
        marginals.append(_loop(unary, weights, 1, start=marginals[-1]))
    return marginals[-1], [mean_field_free_energy(unary, weights, q) for q in marginals]
