"""Notebook 05's exercises: DSH's pair terms and the loss over a batch."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .core import (
    Case,
    Outcome,
    Traced,
    as_array,
    close,
    first_difference,
    first_match,
    gradient_hint,
    run_cases,
    shape_hint,
    traced,
)


def _relaxed_codes(rng: np.random.Generator, count: int, bits: int):
    import torch

    return torch.from_numpy(np.tanh(rng.normal(0, 1.5, (count, bits))).astype(np.float32))


def check_dsh_pair_terms(pair_terms: Callable) -> Outcome:
    """Notebook 05. ``pair_terms(h1, h2, labels, margin)`` returns eq. 4's pair term for each of P aligned
    pairs of relaxed codes (h1, h2: P x k tensors; labels: P, 0 = SIMILAR, 1 = DISSIMILAR), without the
    regulariser: 1/2 ||h1 - h2||^2 for a similar pair, 1/2 max(m - ||h1 - h2||^2, 0) for a dissimilar one,
    as ``hashing.losses.dsh_pair_terms``."""
    import torch

    from ..hashing import losses

    rng = np.random.default_rng(6)

    def case(name: str, h1, h2, labels, margin: float) -> Case:
        labels = torch.as_tensor(labels, dtype=torch.int64)
        args = (h1, h2, labels, margin)
        return Case(name, args, losses.dsh_pair_terms(*args).numpy(), call=traced(args, wrt=(0, 1)))

    random_a, random_b = _relaxed_codes(rng, 40, 16), _relaxed_codes(rng, 40, 16)
    signs = torch.from_numpy(np.where(rng.random((20, 16)) < 0.5, -1.0, 1.0).astype(np.float32))
    flipped = signs * torch.from_numpy(np.where(rng.random((20, 16)) < 0.3, -1.0, 1.0).astype(np.float32))
    far = _relaxed_codes(rng, 10, 16).sign()
    cases = [case("40 random pairs of 16-bit relaxed codes, margin 2k = 32", random_a, random_b,
                  rng.integers(0, 2, 40), 32.0),
             case("codes at exactly +-1 (squared distance = 4 x Hamming distance), margin 32", signs, flipped,
                  rng.integers(0, 2, 20), 32.0),
             case("dissimilar pairs already farther apart than the margin (their term is 0)", far, -far,
                  np.ones(10, dtype=np.int64), 32.0),
             case("a similar pair of identical codes (term 0)", random_a[:1], random_a[:1].clone(), [0], 32.0),
             case("1-bit codes, margin 2", random_a[:8, :1], random_b[:8, :1], rng.integers(0, 2, 8), 2.0)]

    return run_cases("check_dsh_pair_terms", pair_terms, cases, _judge_pair_terms, _explain_numpy)


def check_dsh_loss(dsh: Callable) -> Outcome:
    """Notebook 05. ``dsh(codes, labels, margin, alpha)`` returns eq. 4 over a batch as a torch scalar
    that autograd can differentiate: ``codes`` N x k relaxed codes, ``labels`` the N x N pair labels of
    ``hashing.pair_labels`` (0 similar, 1 dissimilar, -1 left out). The mean pair term over the similar
    pairs (a code with itself is not a pair) plus the mean over the dissimilar pairs, plus ``alpha``
    times the mean over the codes of || |h| - 1 ||_1: ``hashing.dsh_loss(...)["loss"]``."""
    import torch

    from ..hashing import losses

    rng = np.random.default_rng(7)

    def case(name: str, codes, ids, categories, margin: float, alpha: float) -> Case:
        labels = losses.pair_labels(np.asarray(ids), np.asarray(categories))
        with torch.no_grad():
            parts = {key: float(value) for key, value in losses.dsh_loss(codes, labels, margin, alpha).items()}
        args = (codes, labels, margin, alpha)
        return Case(name, args, parts["loss"], data=parts, call=traced(args, wrt=(0,)))

    ids = [0, 0, 1, 1, 2, 2, 3, 3, 4, 5, 6, 7]  # four items with two views each, four with one
    categories = [0, 0, 1, 1, 0, 0, 2, 2, 1, 2, 0, 1]
    cases = [case("a batch of 12 codes of 16 bits: 4 similar pairs, dissimilar and left-out pairs",
                  _relaxed_codes(rng, 12, 16), ids, categories, 32.0, 0.01),
             case("codes at exactly +-1 (the regulariser is 0)", _relaxed_codes(rng, 12, 16).sign(), ids,
                  categories, 32.0, 0.01),
             case("no similar pair in the batch (the pull is 0, not NaN)", _relaxed_codes(rng, 6, 8),
                  list(range(6)), [0, 1, 2, 0, 1, 2], 16.0, 0.01),
             case("alpha = 0.5 (a strong regulariser)", _relaxed_codes(rng, 12, 16), ids, categories, 32.0, 0.5),
             case("one category, every ID different: every pair left out (only the regulariser remains)",
                  _relaxed_codes(rng, 5, 8), list(range(5)), [3] * 5, 16.0, 0.01)]

    return run_cases("check_dsh_loss", dsh, cases, _judge_dsh_loss, _explain_numpy)


def _same_number(got, value) -> bool:
    return bool(np.isclose(float(got), float(value), rtol=1e-4, atol=1e-6))


def _explain_numpy(case: Case, error: Exception) -> str | None:
    if "requires grad" in str(error):
        return ("use torch operations, not NumPy: the codes require grad (training back-propagates through them), "
                f"so .numpy() is refused ({type(error).__name__}: {str(error).splitlines()[0]})")
    return None


def _pair_terms_value_hint(case: Case, result) -> str | None:
    got, expected = as_array(result).astype(float), case.expected
    h1, h2, labels, margin = (as_array(value) for value in case.args)
    if got.ndim == 0:
        return f"return one value per pair, shape ({len(expected)},): no mean or sum over the pairs here"
    hint = shape_hint(got, expected, "one value per pair")
    if hint:
        return hint
    if close(got, expected):
        return None
    squared = ((h1 - h2) ** 2).sum(-1)
    distance = np.sqrt(squared)
    similar = labels == 0
    variants = {
        "a dissimilar pair already farther apart than the margin costs 0: 1/2 max(m - ||h1 - h2||^2, 0)":
            np.where(similar, 0.5 * squared, 0.5 * (margin - squared)),
        "use the squared distance ||h1 - h2||^2 (the sum of squares), not its square root":
            np.where(similar, 0.5 * distance, 0.5 * np.maximum(margin - distance, 0)),
        "both terms carry a factor 1/2": 2 * expected,
        "label 0 (SIMILAR) pulls the codes together, label 1 (DISSIMILAR) pushes them apart":
            np.where(~similar, 0.5 * squared, 0.5 * np.maximum(margin - squared, 0)),
    }
    for hint, variant in variants.items():
        if close(got, variant):
            return hint
    (pair,) = first_difference(got, expected)
    kind = "similar" if similar[pair] else "dissimilar"
    return (f"pair {pair} ({kind}, squared distance {squared[pair]:.4f}): term {got[pair]:.4f}, "
            f"expected {expected[pair]:.4f}")



def _judge_pair_terms(case: Case, result: Traced) -> str | None:
    from ..hashing import losses

    return (_pair_terms_value_hint(case, result.output)
            or gradient_hint(result, losses.dsh_pair_terms, wrt={0: "h1", 1: "h2"}))


def _judge_dsh_loss(case: Case, result: Traced) -> str | None:
    import torch

    from ..hashing import losses

    output = result.output
    if not isinstance(output, torch.Tensor):
        return ("return a torch scalar computed from `codes` with torch operations, so that the loss can be "
                f"back-propagated (got {type(output).__name__})")
    if output.numel() != 1:
        return f"return one number for the whole batch, got shape {tuple(output.shape)}"
    if not output.requires_grad:
        return ("the loss does not reach `codes` through autograd (.item(), .numpy() or torch.tensor(...) "
                "cut the graph): keep torch operations from codes to the loss")
    got = float(output.detach())
    if not _same_number(got, case.expected):
        return _dsh_value_hint(case, got)
    parts = {
        "only the regulariser's gradient reaches `codes`: the pull and push are computed from a detached copy "
        "(codes.detach() or NumPy), so training would never move similar codes together; compute them from "
        "`codes` itself": lambda *args: losses.dsh_loss(*args)["regulariser"],
        "the regulariser's gradient is missing (computed in NumPy or as a float, it is a constant to autograd): "
        "compute alpha x the mean of || |h| - 1 ||_1 with torch operations on `codes`":
            lambda *args: losses.dsh_loss(*args)["pull"] + losses.dsh_loss(*args)["push"],
    }
    return gradient_hint(result, lambda *args: losses.dsh_loss(*args)["loss"], wrt={0: "codes"}, parts=parts)


def _dsh_value_hint(case: Case, got: float) -> str | None:
    import torch

    from ..hashing import losses

    parts, expected = case.data, case.expected
    if np.isnan(got):
        return ("a batch without similar (or dissimilar) pairs must give a pull (or push) of 0, not NaN: the mean "
                "of an empty selection is NaN" if parts["pull"] == 0 or parts["push"] == 0 else "the loss is NaN")
    codes, labels, margin, alpha = case.args
    with torch.no_grad():
        n = len(codes)
        left, right = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
        terms = losses.dsh_pair_terms(codes[left], codes[right], labels, margin)
        as_dissimilar = losses.dsh_pair_terms(codes[left], codes[right], torch.ones_like(labels), margin)
        off_diagonal = ~torch.eye(n, dtype=torch.bool)
        similar, dissimilar = (labels == losses.SIMILAR) & off_diagonal, labels == losses.DISSIMILAR
        ignored = labels == losses.IGNORED
        per_code = losses.quantisation_regulariser(codes)

        def mean(values):
            return float(values.mean()) if len(values) else 0.0

        variants = {
            "add the regulariser: alpha x the mean over the codes of || |h| - 1 ||_1":
                parts["pull"] + parts["push"],
            "average the regulariser over the batch's codes (a mean, not a sum)":
                parts["pull"] + parts["push"] + alpha * float(per_code.sum()),
            "average the similar and the dissimilar pairs separately, then add the two means: a batch holds "
            "about one similar pair per item against many dissimilar ones, and one mean would let the "
            "pushing drown the pulling": mean(terms[similar | dissimilar]) + parts["regulariser"],
            "leave the diagonal out: a code paired with itself is not a similar pair":
                mean(terms[labels == losses.SIMILAR]) + parts["push"] + parts["regulariser"],
            "pairs labelled -1 (IGNORED: one category, different IDs) are left out of the loss":
                parts["pull"] + mean(as_dissimilar[dissimilar | ignored]) + parts["regulariser"],
        }
    hint = first_match(np.array(got), expected, variants, same=_same_number)
    return hint or (f"loss {got:.6f}, expected {expected:.6f} = pull {parts['pull']:.6f} + push {parts['push']:.6f} "
            f"+ regulariser {parts['regulariser']:.6f}")
