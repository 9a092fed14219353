"""clothlib.exercises: each check passes a right solution, names the mistake of realistic wrong ones,
says "not implemented yet" for the student edition's stub, and never crashes a notebook."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from clothlib import data, exercises

# --- right solutions, as the notebooks' solution cells write them -----------------------------------------


def relabel_mask(mask, label_names):
    table = data.ccp_to_class()
    lut = np.array([table[name] for name in label_names], dtype=np.uint8)
    return lut[mask]


def bilinear_kernel(channels, size):
    factor = (size + 1) // 2
    centre = factor - 1 if size % 2 == 1 else factor - 0.5
    line = 1 - torch.abs(torch.arange(size, dtype=torch.float32) - centre) / factor
    weight = torch.zeros(channels, channels, size, size)
    for c in range(channels):
        weight[c, c] = line[:, None] * line[None, :]
    return weight


def fuse(deep, skip, up):
    return up(deep)[..., :skip.shape[-2], :skip.shape[-1]] + skip


def lovasz_gradient(foreground_sorted, inclusive=True, difference=True):
    total = foreground_sorted.sum()
    seen = foreground_sorted.cumsum(0) - (0 if inclusive else foreground_sorted)
    missed = (1 - foreground_sorted).cumsum(0) - (0 if inclusive else 1 - foreground_sorted)
    jaccard = 1 - (total - seen) / (total + missed)
    return torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]]) if difference else jaccard


def lovasz_variant(foreground_sorted, total=None, reverse=False, shift=False):
    """The mistakes students make in the Lovász gradient: P = pixel count, reversed cumsums, a 0 appended."""
    g = foreground_sorted.flip(0) if reverse else foreground_sorted
    seen, missed = g.cumsum(0), (1 - g).cumsum(0)
    if reverse:
        seen, missed = seen.flip(0), missed.flip(0)
    total = foreground_sorted.sum() if total is None else total
    jaccard = 1 - (total - seen) / (total + missed)
    if shift:
        return torch.cat([jaccard[1:] - jaccard[:-1], torch.zeros(1)])
    return torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])


def mean_field_step(probs, q, weights):
    logits = np.log(np.clip(probs, 1e-8, None)) + q @ weights
    exp = np.exp(logits - logits.max(axis=0))
    return exp / exp.sum(axis=0)


def garment_box(mask):
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        raise ValueError("an empty mask has no box")
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def garment_box_without_the_empty_mask(mask):
    """A partial solution: right for every garment, the empty mask left for later."""
    if not mask.any():
        raise NotImplementedError("the empty mask")
    return garment_box(mask)


def consumer_crop(photo, box, margin, fill=127, shift=True, sides=2, centre=round):
    x0, y0, x1, y1 = box
    side = round(max(x1 - x0, y1 - y0) * (1 + sides * margin))
    height, width = photo.shape[:2]

    def place(start, length):
        if side >= length:
            return (length - side) // 2
        return min(max(start, 0), length - side) if shift else start

    left, top = place(centre((x0 + x1 - side) / 2), width), place(centre((y0 + y1 - side) / 2), height)
    canvas = np.full((side, side, 3), fill, dtype=np.uint8)
    sx0, sy0, sx1, sy1 = max(left, 0), max(top, 0), min(left + side, width), min(top + side, height)
    canvas[sy0 - top:sy1 - top, sx0 - left:sx1 - left] = photo[sy0:sy1, sx0:sx1]
    return canvas


def pair_terms(h1, h2, labels, margin):
    squared = ((h1 - h2) ** 2).sum(-1)
    return torch.where(labels == 0, 0.5 * squared, 0.5 * torch.clamp(margin - squared, min=0))


def dsh(codes, labels, margin, alpha, diagonal=False, ignored_push=False, regulariser=True, separate=True,
        guard=True):
    n = len(codes)
    terms = pair_terms(codes[:, None, :].expand(n, n, -1), codes[None, :, :].expand(n, n, -1), labels, margin)
    similar = labels == 0 if diagonal else (labels == 0) & ~torch.eye(n, dtype=torch.bool)
    dissimilar = (labels != 0) if ignored_push else labels == 1
    if ignored_push:
        terms = torch.where(labels == -1, pair_terms(codes[:, None, :].expand(n, n, -1),
                                                     codes[None, :, :].expand(n, n, -1), torch.ones_like(labels),
                                                     margin), terms)
    zero = codes.sum() * 0
    if separate:
        pull = terms[similar].mean() if similar.any() or not guard else zero
        pairs = pull + (terms[dissimilar].mean() if dissimilar.any() else zero)
    else:
        pairs = terms[similar | dissimilar].mean() if (similar | dissimilar).any() else zero
    return pairs + (alpha * (codes.abs() - 1).abs().sum(-1).mean() if regulariser else 0)


def hamming(query_packed, gallery_packed):
    xor = query_packed[:, None, :] ^ gallery_packed[None, :, :]
    return np.bitwise_count(xor).sum(axis=2, dtype=np.int64)


def top_k(distances, k):
    return np.argsort(distances, axis=1, kind="stable")[:, :k]


def topk_accuracy(ranking, relevant, k):
    hits = np.take_along_axis(relevant, ranking[:, :k], axis=1).any(axis=1)
    answerable = relevant.any(axis=1)
    return float(hits[answerable].mean()) if answerable.any() else float("nan")


def precision_at_k(ranking, relevant, k):
    """A mistake: the share of relevant items among the first k, not whether one of them is relevant."""
    hits = np.take_along_axis(relevant, ranking[:, :k], axis=1).mean(axis=1)
    answerable = relevant.any(axis=1)
    return float(hits[answerable].mean()) if answerable.any() else float("nan")


RIGHT = [(exercises.check_relabel, relabel_mask), (exercises.check_bilinear_kernel, bilinear_kernel),
         (exercises.check_skip_fusion, fuse), (exercises.check_lovasz_gradient, lovasz_gradient),
         (exercises.check_mean_field_step, mean_field_step),
         (exercises.check_garment_box, garment_box), (exercises.check_consumer_crop, consumer_crop),
         (exercises.check_dsh_pair_terms, pair_terms), (exercises.check_dsh_loss, dsh),
         (exercises.check_hamming_distances, hamming), (exercises.check_top_k, top_k),
         (exercises.check_topk_accuracy, topk_accuracy)]
CHECKS = [check for check, _ in RIGHT]


def _lut(label_names, dtype=np.uint8):
    table = data.ccp_to_class()
    return np.array([table[name] for name in label_names], dtype=dtype)


def _square_kernel(size, centre):
    factor = (size + 1) // 2
    line = 1 - torch.abs(torch.arange(size, dtype=torch.float32) - centre) / factor
    return line[:, None] * line[None, :]


def _softmax(logits):
    exp = np.exp(logits - logits.max(axis=0))
    return exp / exp.sum(axis=0)


def _every_pair_kernel(channels, size):
    kernel = bilinear_kernel(1, size)[0, 0]
    return kernel.expand(channels, channels, size, size).clone()


WRONG = [
    # 01: the class table
    (exercises.check_relabel, lambda mask, names: _lut(names, np.int64)[mask], "return uint8"),
    (exercises.check_relabel, lambda mask, names: _lut(sorted(names))[mask], "label_names["),
    (exercises.check_relabel, lambda mask, names: _lut(names)[np.maximum(mask.astype(int) - 1, 0)], "label_names["),
    (exercises.check_relabel, lambda mask, names: _lut(names)[mask].reshape(-1), "one class per pixel"),
    # 02: bilinear kernel and skip fusion
    (exercises.check_bilinear_kernel, _every_pair_kernel, "must not feed output channel"),
    (exercises.check_bilinear_kernel, lambda c, s: _square_kernel(s, (s + 1) // 2 - 1).expand(c, c, s, s)
     * torch.eye(c)[:, :, None, None], "not symmetric"),
    (exercises.check_bilinear_kernel, lambda c, s: bilinear_kernel(1, s)[0, 0], "return the whole weight"),
    (exercises.check_skip_fusion, lambda deep, skip, up: up(deep) + skip, "crop it to skip's height and width"),
    (exercises.check_skip_fusion, lambda deep, skip, up: F.interpolate(deep, size=skip.shape[-2:], mode="bilinear")
     + skip, "does not change when up's weights do"),
    (exercises.check_skip_fusion, lambda deep, skip, up: up(deep)[..., :skip.shape[-2], :skip.shape[-1]],
     "add the skip scores"),
    (exercises.check_skip_fusion, lambda deep, skip, up: up(deep)[..., -skip.shape[-2]:, -skip.shape[-1]:] + skip,
     "at the bottom and right"),
    (exercises.check_lovasz_gradient, lambda g: lovasz_gradient(g, difference=False), "not the Jaccard losses"),
    (exercises.check_lovasz_gradient, lambda g: -lovasz_gradient(g), "the sign is flipped"),
    (exercises.check_lovasz_gradient, lambda g: lovasz_gradient(g)[1:], "one increment per pixel"),
    (exercises.check_lovasz_gradient, lambda g: lovasz_gradient(g, inclusive=False), "an inclusive cumsum"),
    (exercises.check_lovasz_gradient, lambda g: torch.cat([torch.zeros(1), lovasz_gradient(g)[1:]]),
     "it is J_0 itself"),
    (exercises.check_lovasz_gradient, lambda g: lovasz_variant(g, total=len(g)), "not the number of pixels"),
    (exercises.check_lovasz_gradient, lambda g: lovasz_variant(g, shift=True), "shifted one place"),
    (exercises.check_lovasz_gradient, lambda g: lovasz_variant(g, reverse=True), "do not reverse"),
    (exercises.check_bilinear_kernel, lambda c, s: bilinear_kernel(c, s).numpy(), "return a torch.Tensor"),
    (exercises.check_bilinear_kernel, lambda c, s: bilinear_kernel(c, s).tolist(), "ConvTranspose2d's weight loads"),
    (exercises.check_bilinear_kernel, lambda c, s: bilinear_kernel(c, s).round().long(), "a float tensor"),
    # 03: mean field
    (exercises.check_mean_field_step, lambda p, q, w: _softmax(np.log(np.clip(p, 1e-8, None)) - q @ w),
     "rewards agreement"),
    (exercises.check_mean_field_step, lambda p, q, w: _softmax(p + q @ w), "the unary is -log p"),
    (exercises.check_mean_field_step, lambda p, q, w: _softmax(np.log(np.clip(p, 1e-8, None)) + p @ w),
     "current marginals q"),
    (exercises.check_mean_field_step, lambda p, q, w: np.exp(np.log(np.clip(p, 1e-8, None)) + q @ w)
     / np.exp(np.log(np.clip(p, 1e-8, None)) + q @ w).sum(1, keepdims=True), "over the pixels (axis 1)"),
    (exercises.check_mean_field_step, lambda p, q, w: _softmax(np.log(p) + q @ w), "clip p at 1e-8"),
    # 04: box and crop
    (exercises.check_garment_box, lambda m: tuple(np.subtract(garment_box(m), (0, 0, 1, 1))), "end-exclusive"),
    (exercises.check_garment_box, lambda m: tuple(np.array(garment_box(m))[[1, 0, 3, 2]]), "columns (x) first"),
    (exercises.check_garment_box, lambda m: (int(np.flatnonzero(m.any(0))[0]), int(np.flatnonzero(m.any(1))[0]),
                                             int(np.flatnonzero(m.any(0))[-1]) + 1,
                                             int(np.flatnonzero(m.any(1))[-1]) + 1), "raise ValueError"),
    (exercises.check_garment_box, garment_box_without_the_empty_mask, "an empty mask has no box: raise ValueError"),
    (exercises.check_consumer_crop, lambda p, b, m: consumer_crop(p, b, m, centre=math.floor), "half to even"),
    (exercises.check_consumer_crop, lambda p, b, m: consumer_crop(p, b, m, centre=lambda v: int(v + 0.5)),
     "half to even"),
    (exercises.check_consumer_crop, lambda p, b, m: consumer_crop(p, b, m, fill=0), "are grey"),
    (exercises.check_consumer_crop, lambda p, b, m: consumer_crop(p, b, m, shift=False), "shift it inside"),
    (exercises.check_consumer_crop, lambda p, b, m: consumer_crop(p, b, m, sides=1), "margin goes on each side"),
    (exercises.check_consumer_crop, lambda p, b, m: consumer_crop(p, b, m)[:, :-1], "the crop is square"),
    # 05: DSH
    (exercises.check_dsh_pair_terms, lambda h1, h2, y, m: torch.where(
        y == 0, 0.5 * ((h1 - h2) ** 2).sum(-1), 0.5 * (m - ((h1 - h2) ** 2).sum(-1))), "costs 0"),
    (exercises.check_dsh_pair_terms, lambda h1, h2, y, m: pair_terms(h1, h2, 1 - y, m), "label 0 (SIMILAR) pulls"),
    (exercises.check_dsh_pair_terms, lambda h1, h2, y, m: torch.where(
        y == 0, 0.5 * (h1 - h2).norm(dim=-1), 0.5 * torch.clamp(m - (h1 - h2).norm(dim=-1), min=0)),
     "squared distance"),
    (exercises.check_dsh_pair_terms, lambda h1, h2, y, m: pair_terms(h1, h2, y, m).mean(), "one value per pair"),
    (exercises.check_dsh_pair_terms, lambda h1, h2, y, m: pair_terms(h1.detach(), h2.detach(), y, m).numpy(),
     "return a torch.Tensor"),
    (exercises.check_dsh_pair_terms, lambda h1, h2, y, m: torch.from_numpy(
        pair_terms(h1.detach(), h2.detach(), y, m).numpy()), "does not reach `h1`, `h2` through autograd"),
    (exercises.check_dsh_pair_terms, lambda h1, h2, y, m: torch.from_numpy(
        pair_terms(torch.from_numpy(np.asarray(h1)), torch.from_numpy(np.asarray(h2)), y, m).numpy()),
     "not NumPy"),
    (exercises.check_dsh_loss, lambda c, y, m, a: dsh(c, y, m, a, regulariser=False), "add the regulariser"),
    (exercises.check_dsh_loss, lambda c, y, m, a: dsh(c, y, m, a, separate=False), "separately"),
    (exercises.check_dsh_loss, lambda c, y, m, a: dsh(c, y, m, a, diagonal=True), "leave the diagonal out"),
    (exercises.check_dsh_loss, lambda c, y, m, a: dsh(c, y, m, a, ignored_push=True), "pairs labelled -1"),
    (exercises.check_dsh_loss, lambda c, y, m, a: float(dsh(c, y, m, a).detach()), "back-propagated"),
    (exercises.check_dsh_loss, lambda c, y, m, a: dsh(c.detach(), y, m, a), "autograd"),
    (exercises.check_dsh_loss, lambda c, y, m, a: dsh(c, y, m, a, guard=False), "not NaN"),
    (exercises.check_dsh_loss, lambda c, y, m, a: torch.tensor(dsh(c, y, m, a).item(), requires_grad=True),
     "no gradient reaches `codes`"),
    (exercises.check_dsh_loss, lambda c, y, m, a: dsh(c.detach(), y, m, a, regulariser=False)
     + a * (c.abs() - 1).abs().sum(-1).mean(), "only the regulariser's gradient reaches `codes`"),
    (exercises.check_dsh_loss, lambda c, y, m, a: dsh(c, y, m, a, regulariser=False)
     + a * float(np.abs(np.abs(c.detach().numpy()) - 1).sum(-1).mean()), "the regulariser's gradient is missing"),
    # 06: retrieval
    (exercises.check_hamming_distances, lambda q, g: (q[:, None, :] ^ g[None, :, :]).astype(int).sum(-1),
     "not its byte values"),
    (exercises.check_hamming_distances, lambda q, g: ((q[:, None, :] ^ g[None, :, :]) != 0).sum(-1),
     "not the bytes that differ"),
    (exercises.check_hamming_distances, lambda q, g: hamming(g, q), "(Q, G)"),
    (exercises.check_hamming_distances, lambda q, g: hamming(q, g).astype(float), "integer array"),
    (exercises.check_top_k, lambda d, k: np.argsort(d, axis=1)[:, :k], "ties must keep gallery order"),
    (exercises.check_top_k, lambda d, k: np.argsort(d, axis=1, kind="stable")[:, :k][:, ::-1], "nearest first"),
    (exercises.check_top_k, lambda d, k: np.argsort(-d, axis=1, kind="stable")[:, :k], "the k nearest at"),
    (exercises.check_top_k, lambda d, k: np.argsort(d, axis=1, kind="stable")[:, :k + 1], "return k = "),
    (exercises.check_topk_accuracy, lambda r, y, k: np.take_along_axis(y, r[:, :k], axis=1).any(1).mean(),
     "leave it out of the mean"),
    (exercises.check_topk_accuracy, lambda r, y, k: 100 * topk_accuracy(r, y, k), "not a percentage"),
    (exercises.check_topk_accuracy, lambda r, y, k: y[:, :k].any(1)[y.any(1)].mean() if y.any() else np.nan,
     "indexed by gallery item"),
    (exercises.check_topk_accuracy, lambda r, y, k: topk_accuracy(r, y, k + 1), "ranking[:, :k]"),
    (exercises.check_topk_accuracy, lambda r, y, k: topk_accuracy(r, y, k) if y.any() else 0.0, "return NaN"),
    (exercises.check_topk_accuracy, lambda r, y, k: precision_at_k(r, y, k), "precision@k"),
    (exercises.check_topk_accuracy, lambda r, y, k: topk_accuracy(r[:, k - 1:], y, 1), "not only a hit at rank k - 1"),
    (exercises.check_topk_accuracy, lambda r, y, k: topk_accuracy(r, np.broadcast_to(y.any(0), y.shape), k)
     if y.any() else np.nan, "relevance is per query"),
    (exercises.check_top_k, lambda d, k: np.argsort(d + 1e-4 * np.arange(d.shape[1]), axis=1)[:, :k],
     "tie-break epsilon"),
    (exercises.check_top_k, lambda d, k: np.argsort(d + 1e-7 * np.arange(d.shape[1]), axis=1)[:, :k],
     "tie-break epsilon"),
]


@pytest.mark.parametrize("check, solution", RIGHT, ids=[check.__name__ for check, _ in RIGHT])
def test_a_right_solution_passes(check, solution, capsys):
    outcome = check(solution)
    assert outcome and outcome.status == exercises.CORRECT, outcome.message
    assert capsys.readouterr().out.strip() == f"✓ {check.__name__}: {outcome.message}"


@pytest.mark.filterwarnings("ignore:divide by zero encountered in log:RuntimeWarning")  # a wrong solution's log(0)
@pytest.mark.parametrize("check, wrong, hint", WRONG, ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(WRONG)])
def test_a_wrong_solution_fails_with_its_hint(check, wrong, hint, capsys):
    outcome = check(wrong)
    assert not outcome and outcome.status == exercises.WRONG
    assert hint in outcome.message, outcome.message
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed == [f"✗ {check.__name__}: {outcome.message}"], "exactly one line, the hint"


def test_every_check_has_at_least_two_wrong_solutions():
    counts = {check: sum(c is check for c, _, _ in WRONG) for check in CHECKS}
    assert min(counts.values()) >= 2, counts


@pytest.mark.parametrize("check", CHECKS, ids=[check.__name__ for check in CHECKS])
def test_the_student_editions_stub_is_not_implemented_yet(check, capsys):
    def stub(*args):
        # YOUR CODE HERE
        raise NotImplementedError()

    outcome = check(stub)
    assert not outcome and outcome.status == exercises.NOT_IMPLEMENTED
    assert "not implemented yet" in capsys.readouterr().out


@pytest.mark.parametrize("check", CHECKS, ids=[check.__name__ for check in CHECKS])
def test_a_crashing_or_absurd_solution_is_a_hint_not_a_crash(check):
    def crashes(*args):
        return {}[0]

    for student in (crashes, lambda *args: "a string", lambda *args: None):
        outcome = check(student)
        assert outcome.status == exercises.WRONG and outcome.message


def test_a_check_leaves_the_global_random_state_alone():
    np.random.seed(123)
    torch.manual_seed(123)
    for check, solution in RIGHT:
        check(solution)
    after_numpy, after_torch = np.random.random(), torch.rand(1)
    np.random.seed(123)
    torch.manual_seed(123)
    assert after_numpy == np.random.random() and torch.equal(after_torch, torch.rand(1))


def test_a_solution_that_changes_its_input_in_place_cannot_spoil_the_reference():
    def relabel_in_place(mask, label_names):
        mask[...] = _lut(label_names)[mask]
        return mask

    assert exercises.check_relabel(relabel_in_place)


def test_an_outcome_shows_nothing_more_in_a_notebook():
    outcome = exercises.Outcome("check_x", exercises.CORRECT, "fine")
    assert outcome._ipython_display_() is None and bool(outcome)
    assert not exercises.Outcome("check_x", exercises.WRONG, "no")


@pytest.mark.parametrize("check", CHECKS, ids=[check.__name__ for check in CHECKS])
def test_a_multi_line_error_is_still_a_one_line_hint(check, capsys):
    def raises_like_torch(*args):  # torch's errors often span several lines
        raise RuntimeError("Given groups=1, weight of size [13, 13, 4, 4]\n\nexpected input to have 13 channels\n  but "
                           "got 3 channels instead")

    outcome = check(raises_like_torch)
    assert outcome.status == exercises.WRONG and "\n" not in outcome.message
    assert "expected input to have 13 channels but got 3 channels instead" in outcome.message
    assert len(capsys.readouterr().out.strip().splitlines()) == 1


def test_a_partial_solution_gets_the_hint_of_the_case_it_fails_on():
    def relabel_small_masks_only(mask, label_names):
        if mask.size > 64:
            raise NotImplementedError("large masks")
        return relabel_mask(mask, label_names)

    outcome = exercises.check_relabel(relabel_small_masks_only)
    assert outcome.status == exercises.WRONG, "a solution that ran on a case is not 'not implemented yet'"
    assert "40 x 27" in outcome.message and "the 1 case(s) before this one pass" in outcome.message


def test_the_gradient_helper_compares_gradients_not_values():
    from clothlib.exercises import core

    args = (torch.tensor([0.5, -2.0, 3.0]),)
    call = core.traced(args, wrt=(0,))

    def square(x):
        return x ** 2

    assert core.gradient_hint(call(square), square, {0: "x"}) is None
    same_value_no_gradient = call(lambda x: torch.tensor((x ** 2).tolist(), requires_grad=True))
    assert "no gradient reaches `x`" in core.gradient_hint(same_value_no_gradient, square, {0: "x"})
    half_detached = call(lambda x: x.detach() * x)  # x^2 in value, half its gradient
    assert "gradient with respect to `x`" in core.gradient_hint(half_detached, square, {0: "x"})
    assert core.gradient_hint(half_detached, square, {0: "x"}, parts={"half": lambda x: x.detach() * x}) == "half"
    assert args[0].grad is None and not args[0].requires_grad, "the case's own inputs are left alone"


def test_the_trajectory_helper_follows_each_step_from_the_last():
    from clothlib.exercises import core

    assert core.trajectory(lambda state: 2 * state + 1, 0, 3) == 7


def test_the_exercises_package_stays_simple_enough_for_ruffs_complexity_rule():
    import subprocess
    import sys
    from pathlib import Path

    package = Path(exercises.__file__).parent
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed beside this Python (pip install ruff)")
    done = subprocess.run([str(ruff), "check", "--select", "C901", "--no-cache", str(package)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout



# --- the build exercises of notebook 02: the whole decoder, one training epoch ---------------------------

def _my_decoder(mistake: str = ""):
    """The notebook's MyDecoder (the right one with ``mistake=""``), or one with a plausible mistake."""
    from torch import nn

    from clothlib.parsing.models import bilinear_kernel as kernel

    def upsampler(channels, stride):
        up = nn.ConvTranspose2d(channels, channels, 2 * stride, stride=stride, padding=stride // 2,
                                bias=mistake == "bias")
        if mistake != "random upsamplers":
            with torch.no_grad():
                up.weight.copy_(kernel(channels, 2 * stride))
        return up

    class MyDecoder(nn.Module):
        def __init__(self, tap_channels, num_classes, shallowest_stride):
            super().__init__()
            self.scores = nn.ModuleList(nn.Conv2d(c, num_classes, 1) for c in tap_channels)
            for score in self.scores:
                nn.init.zeros_(score.weight)
                nn.init.zeros_(score.bias)
            self.ups = nn.ModuleList(upsampler(num_classes, 2) for _ in tap_channels[1:])
            self.final_up = upsampler(num_classes, shallowest_stride)

        def forward(self, taps, size):
            x = self.scores[-1](taps[-1])
            ups = self.ups if mistake == "ups in order" else reversed(self.ups)
            for score, up, tap in zip(reversed(self.scores[:-1]), ups, reversed(taps[:-1])):
                skip = score(tap)
                if mistake == "skip before upsampling":
                    x = up(x + skip)
                elif mistake == "no crop":
                    x = up(x) + skip
                else:
                    x = up(x)[..., : skip.shape[-2], : skip.shape[-1]] + skip
            if mistake == "interpolate":
                return F.interpolate(x, scale_factor=4, mode="bilinear")[..., : size[0], : size[1]]
            scores = self.final_up(x)
            if mistake == "detached":
                scores = scores.detach().requires_grad_(True)
            if mistake != "padded size":
                scores = scores[..., : size[0], : size[1]]
            return scores.softmax(1) if mistake == "softmax" else scores

    return MyDecoder


def test_check_decoder_passes_the_solution_and_the_library_s_decoder(capsys):
    from clothlib.exercises import parsing

    assert exercises.check_decoder(_my_decoder())
    assert exercises.check_decoder(parsing.library_decoder)
    assert capsys.readouterr().out.count("\n") == 2, "one line per check"


@pytest.mark.parametrize("mistake, hint", [
    ("no crop", "crop them to the shallower tap's size"),
    ("skip before upsampling", "upsample the deeper scores with its x2 `ups` layer first"),
    ("padded size", "the padded size: crop them to the input's size"),
    ("random upsamplers", "does not start as bilinear upsampling"),
    ("softmax", "return the logits"),
    ("ups in order", "ups[-1] upsamples the deepest scores"),
    ("interpolate", "not a fixed interpolation"),
    ("bias", "the upsamplers have no bias"),
    ("detached", "no gradient reaches `taps[0]`"),
])
def test_check_decoder_names_each_mistake(mistake, hint):
    outcome = exercises.check_decoder(_my_decoder(mistake))
    assert not outcome and hint in outcome.message, outcome.message


def test_check_decoder_says_not_implemented_for_the_stub_and_names_the_layers():
    from torch import nn

    class Stub(nn.Module):
        def __init__(self, tap_channels, num_classes, shallowest_stride):
            super().__init__()
            raise NotImplementedError()

    class OtherNames(nn.Module):
        def __init__(self, tap_channels, num_classes, shallowest_stride):
            super().__init__()
            self.score_layers = nn.ModuleList(nn.Conv2d(c, num_classes, 1) for c in tap_channels)

    assert exercises.check_decoder(Stub).status == exercises.NOT_IMPLEMENTED
    outcome = exercises.check_decoder(OtherNames)
    assert not outcome and "name the layers as the library does" in outcome.message


# --- notebook 03's build exercise: the whole mean-field loop (check_mean_field) -----------------------

def mean_field_inference(unary, kernels, kernel_weights, iterations, start="network", unary_sign=-1.0, potts_sign=1.0,
                         diagonal=True, normalise=True, extra=0, entropy_sign=1.0, pair_factor=0.5, skip_first=False):
    """The notebook's solution (Potts as a penalty, so its energies differ from the reference's by a constant),
    with one knob per mistake the check must name."""
    weights = sum(w * k for w, k in zip(kernel_weights, kernels))
    if not diagonal:
        weights = weights - np.diag(np.diag(weights))
    potts = 1.0 - np.eye(len(unary))

    def softmax(logits):
        exp = np.exp(logits - logits.max(axis=0))
        return exp / exp.sum(axis=0) if normalise else exp

    def energy(q):
        entropy = (q * np.log(np.clip(q, 1e-300, None))).sum()
        return float((q * unary).sum() + entropy_sign * entropy + pair_factor * (q * (potts @ (q @ weights))).sum())

    q = softmax(-unary) if start == "network" else np.full_like(unary, 1 / len(unary))
    energies = [energy(q)]
    for _ in range(iterations + extra):
        q = softmax(unary_sign * unary - potts_sign * (potts @ (q @ weights)))
        energies.append(energy(q))
    return q, energies[1:] if skip_first else energies


def _loop_with(**mistake):
    return lambda *args: mean_field_inference(*args, **mistake)


MEAN_FIELD_WRONG = [
    ({"normalise": False}, "normalise: each pixel's marginals must sum to 1"),
    ({"potts_sign": -1.0}, "the Potts sign is flipped, so disagreement is rewarded"),
    ({"unary_sign": 1.0}, "the unaries enter with the wrong sign"),
    ({"diagonal": False}, "the library keeps each kernel's diagonal"),
    ({"extra": 1}, "one update too many"),
    ({"extra": -1}, "one update too few"),
    ({"start": "uniform"}, "Q initialised uniformly"),
    ({"entropy_sign": -1.0}, "the entropy term enters as + sum Q log Q"),
    ({"pair_factor": 1.0}, "count each pair once"),
    ({"skip_first": True}, "Q_0's (before any update) included"),
]


def test_the_mean_field_loop_s_solution_passes(capsys):
    outcome = exercises.check_mean_field(mean_field_inference)
    assert outcome and outcome.status == exercises.CORRECT, outcome.message
    assert len(capsys.readouterr().out.strip().splitlines()) == 1


@pytest.mark.parametrize("mistake, hint", MEAN_FIELD_WRONG, ids=[next(iter(m)) + str(i)
                                                                for i, (m, _) in enumerate(MEAN_FIELD_WRONG)])
def test_a_wrong_mean_field_loop_fails_with_its_hint(mistake, hint, capsys):
    outcome = exercises.check_mean_field(_loop_with(**mistake))
    assert outcome.status == exercises.WRONG and hint in outcome.message, outcome.message
    assert len(capsys.readouterr().out.strip().splitlines()) == 1


def test_the_mean_field_loop_s_stub_and_absurd_results_never_raise():
    def stub(*args):
        raise NotImplementedError()

    assert exercises.check_mean_field(stub).status == exercises.NOT_IMPLEMENTED
    for student in (lambda *args: None, lambda *args: "q", lambda *args: ({}, [])):
        outcome = exercises.check_mean_field(student)
        assert outcome.status == exercises.WRONG and outcome.message


def test_the_reference_loop_is_the_library_s_mean_field_and_lowers_the_free_energy():
    from clothlib.exercises.crf import reference_mean_field
    from clothlib.parsing import crf

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)
    probs = rng.dirichlet(np.ones(5), size=63).T.reshape(5, 9, 7)
    params = crf.CRFParams(iterations=6)
    kernels = [crf.pairwise_weights(image, crf.CRFParams(gaussian_weight=1.0, bilateral_weight=0.0)),
               crf.pairwise_weights(image, crf.CRFParams(gaussian_weight=0.0, bilateral_weight=1.0))]
    q, energies = reference_mean_field(-np.log(probs).reshape(5, -1), kernels, [3.0, 10.0], 6)
    assert np.allclose(q, crf.mean_field(image, probs, params).reshape(5, -1), atol=1e-5)
    assert len(energies) == 7 and (np.diff(energies) < 0).all()


# --- notebook 05, exercise C: catt3_net's layers as a module -------------------------------------------------

def _my_hashing_head(mistake: str = ""):
    """Notebook 05's MyHashingHead, or it with one realistic mistake."""
    from torch import nn

    from clothlib.hashing import models, quantisers

    class MyHashingHead(nn.Module):
        def __init__(self, in_features, bits, hidden=512, dropout=0.2):
            super().__init__()
            relu = [] if mistake == "no relu" else [nn.ReLU()]
            self.dropout = dropout
            drop = [] if mistake in ("functional dropout", "no dropout") else [nn.Dropout(dropout)]
            self.trunk = nn.Sequential(nn.Linear(in_features, hidden), nn.BatchNorm1d(hidden), *relu, *drop,
                                       nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), *relu)
            norm = [] if mistake == "no code norm" else [nn.BatchNorm1d(bits)]
            self.hash = nn.Sequential(nn.Linear(hidden, bits), *norm, quantisers.StraightThroughSign())
            categories = len(models.task_values("category"))
            source = bits if mistake == "heads on codes" else hidden
            sizes = {task: len(models.task_values(task)) for task in models.variant_tasks(models.VARIANTS["catt3_net"])}
            if mistake == "wrong sizes":
                sizes["colour"] += 1
            self.heads = nn.ModuleDict({task: nn.Linear(source + (0 if task == "category" else categories), size)
                                        for task, size in sizes.items()})

        def forward(self, x):
            if mistake in ("functional dropout", "no dropout"):
                first, second = self.trunk[:3], self.trunk[3:]
                hidden = first(x)
                if mistake == "functional dropout":
                    hidden = F.dropout(hidden, self.dropout)  # training=True by default: on in eval mode too
                features = second(hidden)
            else:
                features = self.trunk(x)
            normalised = self.hash[:-1](features)
            codes = normalised.sign() if mistake == "plain sign" else self.hash[-1](normalised)
            relaxed = normalised.tanh() if mistake == "tanh relaxed" else normalised.clamp(-1, 1)
            source = codes if mistake == "heads on codes" else features
            category = self.heads["category"](source)
            conditioned = torch.cat([source, category if mistake == "raw logits" else category.softmax(1)], 1)
            logits = {task: category if task == "category" else head(conditioned) for task, head in self.heads.items()}
            return {"codes": codes, "relaxed": relaxed, "features": features, "logits": logits}

    return MyHashingHead


def test_check_hashing_head_passes_the_solution(capsys):
    assert exercises.check_hashing_head(_my_hashing_head())
    assert capsys.readouterr().out.count("\n") == 1, "one line per check"


@pytest.mark.parametrize("mistake, hint", [
    ("no relu", "lost its nonlinearity"),
    ("functional dropout", "dropout is still on in eval mode"),
    ("no dropout", "dropout is missing in train mode"),
    ("no code norm", "the code layer has no BatchNorm1d(bits)"),
    ("heads on codes", "the heads read the trunk's features"),
    ("wrong sizes", "one output per value of models.task_values('colour')"),
    ("plain sign", "the codes pass no gradient back"),
    ("tanh relaxed", "not a tanh of it"),
    ("raw logits", "not its raw logits"),
])
def test_check_hashing_head_names_each_mistake(mistake, hint):
    outcome = exercises.check_hashing_head(_my_hashing_head(mistake))
    assert not outcome and hint in outcome.message, outcome.message


def test_check_hashing_head_says_not_implemented_for_the_stub_and_leaves_the_seed():
    from torch import nn

    class Stub(nn.Module):
        def __init__(self, in_features, bits, hidden=512, dropout=0.2):
            super().__init__()
            raise NotImplementedError()

    torch.manual_seed(1)
    before = torch.rand(1)
    torch.manual_seed(1)
    assert exercises.check_hashing_head(Stub).status == exercises.NOT_IMPLEMENTED
    assert exercises.check_hashing_head(_my_hashing_head()).status == exercises.CORRECT
    assert torch.equal(torch.rand(1), before), "a check leaves torch's global generator as it found it"


def _train_one_epoch(mistake: str = ""):
    """The notebook's train_one_epoch (right with ``mistake=""``), or one with a plausible mistake."""

    def train_one_epoch(model, batches, optimiser, base_lr, step0, total_steps):
        if mistake != "eval mode":
            model.train()
        losses = []
        for index, (images, masks) in enumerate(batches):
            step = step0 + index + (mistake == "poly one step ahead")
            if mistake != "fixed lr":
                for group in optimiser.param_groups:
                    group["lr"] = base_lr * (1 - step / total_steps) ** 0.9
            scores = model(images)
            if mistake == "summed loss":
                loss = F.cross_entropy(scores, masks, ignore_index=255, reduction="sum")
            elif mistake == "no ignore index":
                loss = F.cross_entropy(scores, masks)
            else:
                loss = F.cross_entropy(scores, masks, ignore_index=255)
            if mistake == "step before backward":
                optimiser.zero_grad()
                optimiser.step()
                loss.backward()
            else:
                if mistake != "no zero_grad":
                    optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            losses.append(loss.item())
        return losses

    return train_one_epoch


def test_check_train_epoch_passes_the_solution_and_the_library_s_loop_and_keeps_the_random_state():
    from clothlib.exercises import parsing

    before = torch.random.get_rng_state(), np.random.get_state()[1].copy()
    assert exercises.check_train_epoch(_train_one_epoch())
    assert exercises.check_train_epoch(parsing.library_train_one_epoch)
    assert torch.equal(torch.random.get_rng_state(), before[0]) and np.array_equal(np.random.get_state()[1], before[1])


@pytest.mark.parametrize("mistake, hint", [
    ("no zero_grad", "call optimiser.zero_grad() every batch"),
    ("fixed lr", "the learning rate never changes"),
    ("poly one step ahead", "the poly schedule is one step ahead"),
    ("step before backward", "found no gradient: call loss.backward() before optimiser.step()"),
    ("summed loss", "the loss is summed over the pixels"),
    ("eval mode", "call model.train() first"),
    ("no ignore index", "pass ignore_index=255"),
])
def test_check_train_epoch_names_each_mistake(mistake, hint):
    outcome = exercises.check_train_epoch(_train_one_epoch(mistake))
    assert not outcome and hint in outcome.message, outcome.message


def test_check_train_epoch_says_not_implemented_for_the_stub():
    def train_one_epoch(model, batches, optimiser, base_lr, step0, total_steps):
        raise NotImplementedError()

    assert exercises.check_train_epoch(train_one_epoch).status == exercises.NOT_IMPLEMENTED


# --- notebook 05, exercise D: one DSH + multi-task training step ---------------------------------------------

def _my_train_step(mistake: str = ""):
    """Notebook 05's train_step, or it with one realistic mistake."""
    from clothlib.hashing import losses

    def train_step(model, batch, optimiser, margin, weights):
        if mistake != "eval":
            model.train()
        out = model(torch.cat([batch["consumer"], batch["shop"]]))
        codes = out["codes"].detach() if mistake == "detached" else out["codes"]
        ids, categories = np.concatenate([batch["ids"]] * 2), np.concatenate([batch["categories"]] * 2)
        pairs = losses.dsh_loss(codes, losses.pair_labels(ids, categories), margin, weights["alpha"],
                                None if mistake == "same" else weights["same_category_margin"])
        targets = {task: torch.cat([batch["targets"][task]] * 2) for task in out["logits"]}
        tasks = losses.multitask_loss(out["logits"], targets, 1.0 if mistake == "mu" else weights["mu"])
        loss = pairs["loss"] + (0 if mistake == "tasks" else tasks["loss"])
        if mistake == "step first":
            optimiser.zero_grad()
            optimiser.step()
            loss.backward()
        else:
            if mistake != "zero_grad":
                optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        total = pairs["loss"] if mistake == "returns dsh" else loss
        return {"loss": total.item(), "dsh": pairs["loss"].item()}

    return train_step


def test_check_train_step_passes_the_solution_and_the_library_s_step(capsys):
    from clothlib.exercises import hashing

    assert exercises.check_train_step(_my_train_step())
    assert exercises.check_train_step(hashing.library_train_step)
    assert capsys.readouterr().out.count("\n") == 2, "one line per check"


@pytest.mark.parametrize("mistake, hint", [
    ("zero_grad", "call optimiser.zero_grad() before loss.backward()"),
    ("step first", "optimiser.step() runs before loss.backward()"),
    ("eval", "the model stays in eval mode"),
    ("detached", "no gradient of the DSH term reaches the codes"),
    ("tasks", "the task losses are missing"),
    ("mu", "the tasks are weighted wrongly"),
    ("same", "pass weights['same_category_margin'] to losses.dsh_loss"),
    ("returns dsh", "return the step's total"),
])
def test_check_train_step_names_each_mistake(mistake, hint):
    outcome = exercises.check_train_step(_my_train_step(mistake))
    assert not outcome and hint in outcome.message, outcome.message


def test_check_train_step_stub_and_results_that_are_no_losses():
    def stub(model, batch, optimiser, margin, weights):
        raise NotImplementedError()

    def returns_tensor(model, batch, optimiser, margin, weights):
        return _my_train_step()(model, batch, optimiser, margin, weights)["loss"]

    assert exercises.check_train_step(stub).status == exercises.NOT_IMPLEMENTED
    outcome = exercises.check_train_step(returns_tensor)
    assert not outcome and "return a dict of the step's losses" in outcome.message


def test_the_library_train_step_is_the_library_s_training_step():
    """library_train_step (what the check compares with and the notebook runs) is hashing.training's step as
    engine.fit runs it: the same weights after a few steps of an engine.fit-like loop."""
    import copy

    from clothlib.exercises import hashing as hashing_exercises
    from clothlib.hashing import HashingConfig, SplitData, models, training

    torch.manual_seed(0)
    start = models.HashingNet("catt3_net", quantiser="sign_ste", **hashing_exercises.STEP_SIZES)
    batches = hashing_exercises._step_batches(np.random.default_rng(0), 3, 10)
    weights = {"alpha": 0.0, "mu": 0.05, "same_category_margin": 16.0}
    mine = hashing_exercises._run_steps(hashing_exercises.library_train_step, start, batches, 32.0, weights)[1]
    model = copy.deepcopy(start).eval()
    optimiser = torch.optim.AdamW(model.parameters(), lr=hashing_exercises.STEP_LR, weight_decay=1e-4)
    config = HashingConfig(bits=16, margin=32.0, mu=0.05, same_category_push=0.5)
    for number, batch in enumerate(batches):
        torch.manual_seed(number)
        data = SplitData([str(i) for i in range(10)], batch["consumer"][:, None], batch["shop"][:, None],
                         batch["ids"], batch["categories"], batch["targets"])
        model.train()
        loss, _ = training.training_step(config, data)(model, (torch.arange(10),))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    assert all(torch.allclose(mine[key].float(), value.float()) for key, value in model.state_dict().items())


# --- notebook 06's build exercise: AP and the evaluation loop (check_average_precision, check_retrieval_evaluation)

def one_query_ap(order, relevant, mistake=""):
    """The notebook's AP of one query, or one of the mistakes the check must name."""
    if not relevant.any():
        return float("nan")
    hits = relevant[order]
    ranks = np.arange(1, len(hits) + 1)
    precision = np.cumsum(hits) / (np.maximum(ranks - 1, 1) if mistake == "zero_based" else ranks)
    if mistake == "hits_only":
        return float((precision * hits).sum() / hits.sum())
    if mistake == "reciprocal":
        return float(1 / (1 + np.argmax(hits)))
    if mistake == "every_rank":
        return float(precision.mean())
    return float((precision * hits).sum() / relevant.sum())


def evaluate_codes(query_codes, gallery_codes, query_ids, gallery_ids, ks, sort_kind="stable", precision=False,
                   shift=0, pooled=False, percent=True):
    """The notebook's evaluation loop (per query: distances, stable ranking, hits, top-k, AP), with knobs."""
    from clothlib import retrieval

    gallery_ids = np.asarray(gallery_ids)
    found, precisions = {k: [] for k in ks}, []
    for index, query in enumerate(query_ids):
        distances = retrieval.hamming_distances(query_codes[index:index + 1], gallery_codes)[0]
        order = np.argsort(distances, kind=sort_kind)
        relevant = np.isin(gallery_ids, query_ids) if pooled else gallery_ids == query
        if not relevant.any():
            continue
        hits = relevant[order]
        for k in ks:
            found[k].append(hits[:k + shift].mean() if precision else hits[:k + shift].any())
        precisions.append(one_query_ap(order, relevant))
    scale = 100 if percent else 1
    scores = {f"top{k}": round(scale * float(np.mean(found[k])), 3) if precisions else None for k in ks}
    return {**scores, "mAP": round(scale * float(np.mean(precisions)), 3) if precisions else None,
            "queries": len(precisions), "queries_without_relevant": len(query_ids) - len(precisions)}


AP_WRONG = [("hits_only", "divide by all of the query's relevant items"), ("reciprocal", "the reciprocal rank"),
            ("zero_based", "ranks start at 1, not 0"), ("every_rank", "not at every rank")]
EVALUATION_WRONG = [({"sort_kind": "quicksort"}, "argsort's default sort is not stable"),
                    ({"precision": True}, "precision@k"), ({"shift": 1}, "rank off by one"),
                    ({"shift": -1}, "order[:k - 1] misses rank k"), ({"pooled": True}, "relevance is per query"),
                    ({"percent": False}, "report percentages")]


def test_the_ap_and_evaluation_solutions_pass(capsys):
    assert exercises.check_average_precision(one_query_ap)
    assert exercises.check_retrieval_evaluation(evaluate_codes)
    assert len(capsys.readouterr().out.strip().splitlines()) == 2


@pytest.mark.parametrize("mistake, hint", AP_WRONG, ids=[m for m, _ in AP_WRONG])
def test_a_wrong_average_precision_fails_with_its_hint(mistake, hint):
    outcome = exercises.check_average_precision(lambda order, relevant: one_query_ap(order, relevant, mistake))
    assert outcome.status == exercises.WRONG and hint in outcome.message, outcome.message


def test_average_precision_without_a_relevant_item_is_nan_not_zero():
    outcome = exercises.check_average_precision(lambda order, relevant: one_query_ap(order, relevant)
                                                if relevant.any() else 0.0)
    assert "return NaN" in outcome.message


@pytest.mark.parametrize("mistake, hint", EVALUATION_WRONG, ids=[next(iter(m)) + str(i)
                                                                for i, (m, _) in enumerate(EVALUATION_WRONG)])
def test_a_wrong_evaluation_loop_fails_with_its_hint(mistake, hint):
    outcome = exercises.check_retrieval_evaluation(lambda *args: evaluate_codes(*args, **mistake))
    assert outcome.status == exercises.WRONG and hint in outcome.message, outcome.message


@pytest.mark.parametrize("check", [exercises.check_average_precision, exercises.check_retrieval_evaluation])
def test_the_retrieval_build_checks_stub_and_absurd_results_never_raise(check):
    def stub(*args):
        raise NotImplementedError()

    assert check(stub).status == exercises.NOT_IMPLEMENTED
    for student in (lambda *args: None, lambda *args: "x", lambda *args: {}):
        outcome = check(student)
        assert outcome.status == exercises.WRONG and outcome.message
