"""Implement-then-check exercises: a student writes a core algorithm, a check compares it with the library.

Each ``check_<name>(student_fn)`` calls the student's function and the library's own version on the
same seeded inputs, edge cases included, and prints ONE line: ``correct``, ``not implemented yet``
(the function still raises ``NotImplementedError``, as in the student edition), or the first thing
that is wrong, named precisely (a shape, a dtype, a tie broken the wrong way, a missing term...).
A check never raises, so a notebook runs top to bottom whether or not its exercises are solved; the
:class:`Outcome` it returns is truthy only when the function is correct. The references are the
functions the rest of the course uses, so a solution that passes could stand in for them.

| notebook | check | the student writes |
|---|---|---|
| 01 | :func:`check_relabel` | ``relabel_mask(mask, label_names)``: the 59 -> 13 table applied to a label mask |
| 02 | :func:`check_bilinear_kernel` | ``bilinear_kernel(channels, size)``: a transposed convolution's initial weight |
| 02 | :func:`check_skip_fusion` | ``fuse(deep, skip, up)``: one step of the decoder's skip fusion |
| 02 | :func:`check_lovasz_gradient` | ``lovasz_gradient(foreground_sorted)``: the Jaccard loss's increments |
| 03 | :func:`check_mean_field_step` | ``mean_field_step(probs, q, weights)``: one mean-field update |
| 04 | :func:`check_garment_box` | ``garment_box(mask)``: a garment's box, end-exclusive |
| 04 | :func:`check_consumer_crop` | ``consumer_crop(photo, box, margin)``: the square consumer crop |
| 05 | :func:`check_dsh_pair_terms` | ``pair_terms(h1, h2, labels, margin)``: eq. 4's pull and push |
| 05 | :func:`check_dsh_loss` | ``dsh(codes, labels, margin, alpha)``: eq. 4 over a batch, regulariser included |
| 06 | :func:`check_hamming_distances` | ``hamming(query_packed, gallery_packed)``: XOR + popcount |
| 06 | :func:`check_top_k` | ``top_k(distances, k)``: the k nearest, ties in gallery order |
| 06 | :func:`check_topk_accuracy` | ``topk_accuracy(ranking, relevant, k)``: the paper's measure |

Checks draw their inputs from their own seeded generators and leave NumPy's and PyTorch's global
random state as they found it, so calling one does not change what later cells compute.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

CORRECT, WRONG, NOT_IMPLEMENTED = "correct", "wrong", "not implemented yet"
_SYMBOLS = {CORRECT: "✓", WRONG: "✗", NOT_IMPLEMENTED: "…"}


@dataclass(frozen=True)
class Outcome:
    """What a check found: ``status`` is ``"correct"``, ``"wrong"`` or ``"not implemented yet"``;
    ``message`` the line it printed (for ``"wrong"``: the case and the one hint)."""

    check: str
    status: str
    message: str

    def __bool__(self) -> bool:
        return self.status == CORRECT

    def _ipython_display_(self) -> None:
        """Show nothing when a cell ends with a check: its line is already printed, once."""


@dataclass(frozen=True)
class Raises:
    """A case whose right answer is an exception of type ``error``; ``hint`` says so when it is missing."""

    error: type
    hint: str


@dataclass(frozen=True)
class Case:
    """One input of a check. ``call(student_fn)`` runs the student's function on it (by default on a
    deep copy of ``args``, so a function that changes its input in place cannot spoil the reference);
    ``expected`` is the library's answer (or a :class:`Raises`); ``data`` what the hints need."""

    name: str
    args: tuple
    expected: Any
    data: dict = field(default_factory=dict)
    call: Callable[[Callable], Any] | None = None

    def run(self, student_fn: Callable) -> Any:
        if self.call is not None:
            return self.call(student_fn)
        return student_fn(*copy.deepcopy(self.args))


def _finish(check: str, status: str, message: str) -> Outcome:
    outcome = Outcome(check, status, message)
    print(f"{_SYMBOLS[status]} {check}: {message}")
    return outcome


def _run(check: str, student_fn: Callable, cases: list[Case], judge: Callable[[Case, Any], str | None],
         explain: Callable[[Case, Exception], str | None] | None = None) -> Outcome:
    """Run every case until the first failure; ``judge(case, result)`` returns a hint or None,
    ``explain(case, error)`` may turn an exception the student's code raised into a hint."""
    name = getattr(student_fn, "__name__", "your function")
    for case in cases:
        try:
            result = case.run(student_fn)
        except NotImplementedError:
            return _finish(check, NOT_IMPLEMENTED, f"not implemented yet ({name} raises NotImplementedError): "
                           "write it in the cell above, then run this cell again")
        except Exception as error:  # the student's code: any exception becomes a hint, never a crash
            if isinstance(case.expected, Raises) and isinstance(error, case.expected.error):
                continue
            if isinstance(case.expected, Raises):
                hint = f"{case.expected.hint} (it raised {type(error).__name__}: {error})"
            else:
                hint = (explain and explain(case, error)) or f"it raised {type(error).__name__}: {error}"
            return _finish(check, WRONG, f"on {case.name}: {hint}")
        if isinstance(case.expected, Raises):
            return _finish(check, WRONG, f"on {case.name}: {case.expected.hint} (it returned {result!r})")
        try:
            hint = judge(case, result)
        except Exception as error:  # a result too odd to compare (a string, a ragged list...)
            hint = f"could not compare your result ({type(result).__name__}) with the library's: {error}"
        if hint:
            return _finish(check, WRONG, f"on {case.name}: {hint}")
    return _finish(check, CORRECT, f"correct, {len(cases)} cases pass ({'; '.join(case.name for case in cases)})")


# --- helpers for the hints --------------------------------------------------------------------------

def _array(value) -> np.ndarray:
    """A NumPy copy of a result, whether the student returned an array, a tensor or a list."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.array(value)


def _shape_hint(got: np.ndarray, expected: np.ndarray, rule: str) -> str | None:
    if got.shape == expected.shape:
        return None
    if got.ndim == 2 and got.shape == expected.shape[::-1]:
        return f"the result is transposed: shape {got.shape}, expected {expected.shape} ({rule})"
    return f"shape {got.shape}, expected {expected.shape}: {rule}"


def _close(got: np.ndarray, candidate, atol: float = 1e-5, rtol: float = 1e-4) -> bool:
    candidate = _array(candidate)
    return got.shape == candidate.shape and bool(np.allclose(got, candidate, atol=atol, rtol=rtol, equal_nan=True))


def _first_difference(got: np.ndarray, expected: np.ndarray, atol: float = 1e-5, rtol: float = 1e-4) -> tuple:
    wrong = ~np.isclose(got.astype(float), expected.astype(float), atol=atol, rtol=rtol, equal_nan=True)
    return tuple(int(i) for i in np.argwhere(wrong)[0])


# --- 01: the class table -----------------------------------------------------------------------------

def check_relabel(relabel_mask: Callable) -> Outcome:
    """Notebook 01. ``relabel_mask(mask, label_names)`` turns a CCP label mask (uint8, values index
    ``label_names``, the dataset's ``label_list.mat`` order) into the 13-class mask that
    ``data.read_class_mask`` returns: same shape, uint8, class indices 0..12 from ``data.ccp_to_class()``.
    The cases use other label orders than CCP's, so a function must build its table from ``label_names``."""
    from .data.classes import CLASSES, ccp_to_class, lookup_table, relabel

    rng = np.random.default_rng(1)
    table_order = list(ccp_to_class())
    shuffled = [str(name) for name in rng.permutation(table_order)]

    def case(name: str, mask: np.ndarray, names: list[str]) -> Case:
        return Case(name, (mask, names), relabel(mask, lookup_table(names)))

    every_label = rng.permutation(np.resize(np.arange(59, dtype=np.uint8), 64)).reshape(8, 8)
    cases = [case("an 8 x 8 mask holding all 59 labels", every_label, table_order),
             case("a 40 x 27 mask, label_names in another order", rng.integers(0, 59, (40, 27), dtype=np.uint8),
                  shuffled),
             case("a 1 x 1 mask", np.array([[7]], dtype=np.uint8), shuffled),
             case("an empty 0 x 5 mask", np.zeros((0, 5), dtype=np.uint8), shuffled),
             case("a mask of label 0 only", np.zeros((3, 4), dtype=np.uint8), shuffled)]

    def judge(case: Case, result) -> str | None:
        got, expected = _array(result), case.expected
        mask, names = case.args
        hint = _shape_hint(got, expected, "one class per pixel, the label mask's own shape")
        if hint:
            return hint
        if not np.array_equal(got, expected):
            row, col = _first_difference(got, expected)
            label, value, right = int(mask[row, col]), got[row, col], int(expected[row, col])
            said = f"{value} ({CLASSES[int(value)]!r})" if value in range(len(CLASSES)) else f"{value}"
            return (f"pixel ({row}, {col}) holds label {label}, i.e. label_names[{label}] = {names[label]!r}, "
                    f"which belongs to class {right} ({CLASSES[right]!r}); your mask says {said}")
        if got.dtype != np.uint8:
            return f"dtype {got.dtype}: return uint8, as data.read_class_mask does (classes 0..12 fit in a byte)"
        return None

    return _run("check_relabel", relabel_mask, cases, judge)


# --- 02: the fusion decoder ----------------------------------------------------------------------------

def check_bilinear_kernel(bilinear_kernel: Callable) -> Outcome:
    """Notebook 02. ``bilinear_kernel(channels, size)`` returns the ``channels x channels x size x size``
    weight that makes a ``ConvTranspose2d`` start as bilinear upsampling (FCN's initialisation): channel
    ``c`` feeds only channel ``c``, through the outer product of the triangle ``1 - |t - centre| / factor``
    with ``factor = (size + 1) // 2``."""
    from .parsing.models import bilinear_kernel as _bilinear_kernel  # the parameter is named bilinear_kernel

    shapes = [(13, 4, "13 classes, kernel 4 (the x2 upsampler)"), (13, 16, "13 classes, kernel 16 (x8)"),
              (1, 2, "1 channel, kernel 2"), (3, 3, "an odd kernel size, 3"), (2, 1, "kernel size 1"),
              (13, 8, "13 classes, kernel 8 (x4)")]
    cases = [Case(name, (channels, size), _bilinear_kernel(channels, size).numpy()) for channels, size, name in shapes]

    def judge(case: Case, result) -> str | None:
        got, expected = _array(result).astype(float), case.expected
        channels, size = case.args
        if got.shape == (size, size):
            return (f"return the whole weight, shape {expected.shape} (channels x channels x size x size, as "
                    "ConvTranspose2d stores it), not one kernel")
        hint = _shape_hint(got, expected, "channels x channels x size x size")
        if hint:
            return hint
        if _close(got, expected):
            return None
        off_diagonal = got.copy()
        off_diagonal[range(channels), range(channels)] = 0
        if np.abs(off_diagonal).max() > 1e-6:
            i, j = np.argwhere(np.abs(off_diagonal) > 1e-6)[0][:2]
            return (f"weight[{i}, {j}] is not zero: input channel {i} must not feed output channel {j}; each class's "
                    "scores are upsampled on their own (weight[i, j] = 0 for i != j)")
        kernels = got[range(channels), range(channels)]
        if not np.allclose(kernels, kernels[0]):
            return "every channel gets the same kernel"
        kernel = kernels[0]
        if not np.allclose(kernel, kernel[::-1, ::-1]):
            return ("the kernel is not symmetric (kernel != kernel[::-1, ::-1]): the centre is the middle tap for an "
                    "odd size (factor - 1) and between the two middle taps for an even size (factor - 0.5)")
        row, col = _first_difference(kernel, expected[0, 0])
        return (f"kernel[{row}, {col}] = {kernel[row, col]:.4f}, expected {expected[0, 0, row, col]:.4f}: the "
                "kernel is outer(line, line) with line(t) = 1 - |t - centre| / factor, factor = (size + 1) // 2")

    return _run("check_bilinear_kernel", bilinear_kernel, cases, judge)


def check_skip_fusion(fuse: Callable) -> Outcome:
    """Notebook 02. ``fuse(deep, skip, up)`` is one step of the decoder (``FusionDecoder.forward``):
    upsample the deeper scores ``deep`` (N x C x h x w) with the transposed convolution ``up``, crop the
    result to the shallower scores' height and width from the top-left (``[..., :H, :W]``), and add
    ``skip`` (N x C x H x W). The reference is the library's decoder itself, run with identity score
    layers and the same ``up`` (whose weights are random here: after training they are not bilinear)."""
    import torch

    from .parsing.models import FusionDecoder

    rng = np.random.default_rng(2)
    shapes = [("deep 4 x 6, skip 8 x 12 (exactly twice)", 1, 13, (4, 6), (8, 12)),
              ("deep 4 x 6, skip 7 x 11 (a stride-2 layer rounds up: up(deep) is one row and column too big)",
               1, 13, (4, 6), (7, 11)),
              ("deep 1 x 1, skip 1 x 1", 1, 13, (1, 1), (1, 1)),
              ("a batch of 2 with 3 classes, deep 3 x 4, skip 5 x 8", 2, 3, (3, 4), (5, 8))]
    cases = []
    with torch.random.fork_rng(), torch.no_grad():  # the decoder's constructor draws from the global generator
        for name, batch, classes, deep_size, skip_size in shapes:
            decoder = FusionDecoder([classes, classes], classes, shallowest_stride=2)
            for score in decoder.scores:
                score.weight.copy_(torch.eye(classes).reshape(classes, classes, 1, 1))
            up = decoder.ups[0]
            up.weight.copy_(torch.from_numpy(rng.normal(0, 0.5, tuple(up.weight.shape)).astype(np.float32)))
            deep = torch.from_numpy(rng.normal(size=(batch, classes, *deep_size)).astype(np.float32))
            skip = torch.from_numpy(rng.normal(size=(batch, classes, *skip_size)).astype(np.float32))
            fused = []  # what the decoder feeds its last upsampler: the fusion's output
            hook = decoder.final_up.register_forward_pre_hook(lambda module, inputs, out=fused: out.append(inputs[0]))
            decoder([skip, deep])
            hook.remove()
            cases.append(Case(name, (deep, skip, up), fused[0].numpy(), data={"upsampled": up(deep).numpy()},
                              call=lambda student, args=(deep, skip, up): _without_grad(student, args)))

    def judge(case: Case, result) -> str | None:
        got, expected = _array(result), case.expected
        upsampled, skip = case.data["upsampled"], case.args[1].numpy()
        height, width = expected.shape[-2:]
        if got.shape == upsampled.shape and got.shape != expected.shape:
            return f"crop up(deep) to skip's height and width ([..., :{height}, :{width}]) before adding"
        hint = _shape_hint(got, expected, "the fused scores have skip's shape, N x C x H x W")
        if hint:
            return hint
        if _close(got, expected):
            return None
        if _close(got, upsampled[..., :height, :width]):
            return "add the skip scores: fused = up(deep)[..., :H, :W] + skip"
        for dy in range(upsampled.shape[-2] - height + 1):
            for dx in range(upsampled.shape[-1] - width + 1):
                if (dy or dx) and _close(got, upsampled[..., dy:dy + height, dx:dx + width] + skip):
                    return ("crop the extra rows and columns at the bottom and right ([..., :H, :W]): pixel j of "
                            "up(deep) lies over pixel j of skip, so cropping at the top or left shifts the scores")
        deep, skip_scores, up = copy.deepcopy(case.args)
        with torch.no_grad():
            up.weight.zero_()
        try:
            probe = _array(_without_grad(fuse, (deep, skip_scores, up)))
        except Exception:  # the probe only sharpens the hint; the generic one follows
            probe = None
        if probe is not None and _close(probe, got):
            return ("your result does not change when up's weights do: upsample with the given transposed "
                    "convolution `up` (its weights are learned), not a fixed interpolation")
        index = _first_difference(got, expected)
        return (f"fused{list(index)} = {got[index]:.4f}, expected {expected[index]:.4f}: "
                "fused = up(deep)[..., :H, :W] + skip")

    def explain(case: Case, error: Exception) -> str | None:
        if "size of tensor" in str(error) or "must match" in str(error):
            return ("up(deep) is larger than skip here (a stride-2 layer rounds sizes up): crop it to skip's height "
                    f"and width ([..., :H, :W]) before adding ({type(error).__name__}: {error})")
        return None

    return _run("check_skip_fusion", fuse, cases, judge, explain)


def _without_grad(student: Callable, args: tuple):
    """Call ``student`` on a copy of ``args`` with autograd off (the decoder's layers hold parameters)."""
    import torch

    with torch.no_grad():
        return student(*copy.deepcopy(args))


def check_lovasz_gradient(lovasz_gradient: Callable) -> Outcome:
    """Notebook 02. ``lovasz_gradient(foreground_sorted)`` takes one class's 0/1 labels of the pixels
    sorted by decreasing error and returns the Jaccard loss's increments (Berman et al. 2018, Alg. 1):
    with ``P`` foreground pixels, counting the first ``i + 1`` pixels as errors gives
    ``J_i = 1 - (P - cumsum(g)_i) / (P + cumsum(1 - g)_i)``, and entry ``i`` is ``J_i - J_(i-1)``
    (``J_(-1) = 0``). Their dot product with the sorted errors is the Lovász-softmax loss of the class."""
    import torch

    from .parsing.losses import lovasz_gradient as _lovasz_gradient  # the parameter is named lovasz_gradient

    rng = np.random.default_rng(5)
    vectors = [("5 pixels, foreground [0, 1, 1, 0, 1]", [0, 1, 1, 0, 1]),
               ("5 pixels, foreground [1, 0, 1, 1, 0]", [1, 0, 1, 1, 0]),
               ("every pixel foreground, [1, 1, 1]", [1, 1, 1]), ("one pixel, [1]", [1]),
               ("200 pixels, a third of them foreground", (rng.random(200) < 1 / 3).astype(int).tolist())]
    cases = []
    for name, vector in vectors:
        foreground = torch.tensor(vector, dtype=torch.float32)
        cases.append(Case(name, (foreground,), _lovasz_gradient(foreground).numpy(), data={"g": np.array(vector)}))

    def judge(case: Case, result) -> str | None:
        got, expected = _array(result).astype(float), case.expected.astype(float)
        g = case.data["g"]
        total = g.sum()
        jaccard = 1 - (total - np.cumsum(g)) / (total + np.cumsum(1 - g))
        if got.shape == (len(g) - 1,):
            return ("one increment per pixel: entry 0 is J_0 itself (J of no error is 0), so keep it: "
                    "cat([J[:1], J[1:] - J[:-1]])")
        hint = _shape_hint(got, expected, "one increment per pixel, a vector as long as foreground_sorted")
        if hint or _close(got, expected):
            return hint
        if _close(got, jaccard):
            return ("return the increments J_i - J_(i-1), not the Jaccard losses J_i themselves: the loss is their "
                    "dot product with the sorted errors")
        if _close(got, -expected):
            return ("the sign is flipped: J is the Jaccard *loss*, 1 - intersection / union, so its increments are "
                    "those of the IoU negated")
        if _close(got[1:], expected[1:]):
            return (f"entry 0 = {got[0]:.4f}, expected {expected[0]:.4f}: it is J_0 itself, the loss with only the "
                    "first pixel in error (J_(-1) = 0)")
        if not np.isclose(got.sum(), 1, atol=1e-5):
            return (f"your increments sum to {got.sum():.4f}, not 1: they telescope to J with every pixel in error "
                    "(no intersection left); count pixel i itself in J_i (an inclusive cumsum)")
        (index,) = _first_difference(got, expected)
        return (f"entry {index} = {got[index]:.4f}, expected {expected[index]:.4f}: with P foreground pixels, "
                "intersection_i = P - cumsum(g)_i and union_i = P + cumsum(1 - g)_i")

    return _run("check_lovasz_gradient", lovasz_gradient, cases, judge)


# --- 03: the dense CRF ---------------------------------------------------------------------------------

def _softmax_classes(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(0))
    return exp / exp.sum(0)


def _iterate(step: Callable, probs: np.ndarray, weights: np.ndarray, iterations: int) -> np.ndarray:
    """Apply ``step(probs, q, weights)`` ``iterations`` times from q = the network's probabilities."""
    q = probs / probs.sum(0)
    for _ in range(iterations):
        q = step(probs, q, weights)
    return q


def check_mean_field_step(mean_field_step: Callable) -> Outcome:
    """Notebook 03. ``mean_field_step(probs, q, weights)`` is one mean-field update of the dense CRF:
    ``probs`` the network's C x N probabilities (N pixels, row-major), ``q`` the current C x N marginals,
    ``weights`` the N x N matrix ``crf.pairwise_weights`` gives (w_g K_g + w_b K_b). It returns the new
    marginals, Q_i(l) proportional to p_i(l) exp(sum_j W_ij Q_j(l)), p clipped at 1e-8 like the library's
    unary. Applied ``iterations`` times from q = probs it must give ``crf.mean_field``."""
    from .parsing import crf

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
            return _iterate(lambda p, q, w: _array(student(p.copy(), q.copy(), w.copy())), probs, weights, iterations)

        cases.append(Case(name, (probs, weights, iterations), expected, data={"zeros": zeros}, call=call))

    def judge(case: Case, result) -> str | None:
        got, expected = _array(result), case.expected
        probs, weights, iterations = case.args
        hint = _shape_hint(got, expected, "classes x pixels, like probs and q")
        if hint:
            return hint
        if _close(got, expected):
            return None
        sums = got.sum(0)
        if not np.allclose(sums, 1, atol=1e-4):
            if np.allclose(got.sum(1), 1, atol=1e-4):
                return ("you normalised over the pixels (axis 1): each pixel's marginals sum to 1 over the classes "
                        "(axis 0)")
            return ("each pixel's marginals must sum to 1 over the classes: normalise along axis 0 (a softmax over "
                    "classes)")
        with np.errstate(divide="ignore"):
            if case.data["zeros"] and _close(got, _iterate(lambda p, q, w: _softmax_classes(np.log(p) + q @ w),
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
                if _close(got, _iterate(variant, probs, weights, iterations), atol=1e-4):
                    return hint
        label, pixel = _first_difference(got, expected, atol=1e-4)
        return (f"after {iterations} update(s) q[{label}, {pixel}] = {got[label, pixel]:.5f}, expected "
                f"{expected[label, pixel]:.5f}: q_new = softmax over classes of (log p + q @ weights)")

    return _run("check_mean_field_step", mean_field_step, cases, judge)


# --- 04: the consumer-to-shop set ----------------------------------------------------------------------

def check_garment_box(garment_box: Callable) -> Outcome:
    """Notebook 04. ``garment_box(mask)`` returns ``(x0, y0, x1, y1)`` of a garment's boolean mask,
    end-exclusive like a slice (``mask[y0:y1, x0:x1]`` holds every garment pixel), as ``garments.box_of``
    does; an empty mask has no box and raises ``ValueError``."""
    from .data.garments import box_of

    rng = np.random.default_rng(4)
    rows, cols = np.mgrid[:30, :20]
    blob = ((rows - 14) / 9.0) ** 2 + ((cols - 8) / 5.0) ** 2 <= 1 + 0.3 * rng.random((30, 20))
    two_pieces = np.zeros((30, 20), dtype=bool)
    two_pieces[2:5, 3:6] = two_pieces[20:27, 14:18] = True
    corner, far_corner, line = (np.zeros((12, 9), dtype=bool) for _ in range(3))
    corner[0, 0] = far_corner[-1, -1] = True
    line[2:10, 4] = True
    masks = [("a garment blob in a 30 x 20 mask", blob), ("two pieces far apart (the box spans both)", two_pieces),
             ("one pixel at the top-left corner", corner), ("one pixel at the bottom-right corner", far_corner),
             ("a one-pixel-wide vertical line", line), ("a mask that is all garment", np.ones((6, 9), dtype=bool))]
    cases = [Case(name, (mask,), box_of(mask)) for name, mask in masks]
    cases.append(Case("an empty mask", (np.zeros((5, 5), dtype=bool),),
                      Raises(ValueError, "an empty mask has no box: raise ValueError")))

    def judge(case: Case, result) -> str | None:
        try:
            got = tuple(int(v) for v in result)
        except (TypeError, ValueError):
            return f"return a tuple of four ints (x0, y0, x1, y1), got {result!r}"
        expected = case.expected
        x0, y0, x1, y1 = expected
        if len(got) != 4:
            return f"return four numbers (x0, y0, x1, y1), got {len(got)}"
        if got == expected:
            return None
        if got == (y0, x0, y1, x1):
            return f"got {got}, expected {expected}: the order is (x0, y0, x1, y1), columns (x) first, then rows (y)"
        if got == (x0, y0, x1 - 1, y1 - 1):
            return (f"got {got}, expected {expected}: the box is end-exclusive like a slice, x1 = last garment column "
                    "+ 1, so that mask[y0:y1, x0:x1] holds the whole garment")
        return f"got {got}, expected {expected}: x0, x1 from the columns holding a garment pixel, y0, y1 from the rows"

    return _run("check_garment_box", garment_box, cases, judge)


def check_consumer_crop(consumer_crop: Callable) -> Outcome:
    """Notebook 04. ``consumer_crop(photo, box, margin)`` returns the square crop (side x side x 3 uint8,
    before any resizing) that ``garments.consumer_view`` cuts around ``box = (x0, y0, x1, y1)``: side =
    ``round(long side * (1 + 2 * margin))``, centred on the box (``round((x0 + x1 - side) / 2)``), shifted
    to lie inside the photo where it fits, centred on the photo where it does not, and grey
    (``GarmentConfig.outside_grey``, 127) beyond the photo's edges."""
    import dataclasses

    from .data.garments import DEFAULT_GARMENTS, consumer_view

    grey = DEFAULT_GARMENTS.outside_grey

    rng = np.random.default_rng(5)
    photo = rng.integers(0, 256, (60, 40, 3), dtype=np.uint8)
    settings = [("a box in the middle of a 60 x 40 photo", photo, (12, 20, 26, 33), 0.1),
                ("a box at the left edge (the window shifts right to stay inside)", photo, (0, 25, 10, 37), 0.1),
                ("a box at the bottom-right corner", photo, (30, 49, 40, 60), 0.2),
                ("a tall box (the side follows its height)", photo, (15, 5, 21, 45), 0.1),
                ("a wide box", photo, (3, 30, 37, 36), 0.1),
                ("a box whose window is larger than the photo (grey beyond its edges)", photo, (2, 10, 38, 50), 0.1),
                ("margin 0", photo, (12, 20, 26, 33), 0.0),
                ("a box in a 7 x 5 photo", photo[:7, :5], (1, 2, 4, 6), 0.1)]
    cases = []
    for name, image, box, margin in settings:
        x0, y0, x1, y1 = box
        side = round(max(x1 - x0, y1 - y0) * (1 + 2 * margin))
        config = dataclasses.replace(DEFAULT_GARMENTS, view_size=side, consumer_margin=margin)
        expected = consumer_view(image, box, config)  # resized to its own size: unchanged
        outside = consumer_view(np.zeros_like(image), box, config) == grey
        pad = side  # on a photo framed by a wide grey border the window always fits: it is never shifted
        framed = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), constant_values=grey)
        unshifted = consumer_view(framed, (x0 + pad, y0 + pad, x1 + pad, y1 + pad), config)
        cases.append(Case(name, (image, box, margin), expected,
                          data={"side": side, "outside": outside, "unshifted": unshifted, "framed": framed}))

    def judge(case: Case, result) -> str | None:
        got, expected = _array(result), case.expected
        _, (x0, y0, x1, y1), margin = case.args
        side, longest = case.data["side"], max(x1 - x0, y1 - y0)
        if got.ndim == 3 and got.shape[0] != got.shape[1]:
            return f"the crop is square, side x side: shape {got.shape}, expected {expected.shape}"
        if got.shape[:1] == (round(longest * (1 + margin)),) and got.shape != expected.shape:
            return (f"the margin goes on each side: side = round(long side x (1 + 2 x margin)) = {side}, "
                    f"got {got.shape[0]}")
        if got.shape[:1] == (int(longest * (1 + 2 * margin)),) and got.shape != expected.shape:
            return (f"round the side, round(long side x (1 + 2 x margin)) = {side}, do not truncate it "
                    f"(got {got.shape[0]})")
        hint = _shape_hint(got, expected, "side x side x 3, the box's long side plus the margin on each side")
        if hint:
            return hint
        if np.array_equal(got, expected):
            return None if got.dtype == np.uint8 else f"dtype {got.dtype}: return uint8, like the photo"
        outside = case.data["outside"]
        if outside.any() and np.array_equal(got[~outside], expected[~outside]):
            return (f"pixels beyond the photo's edges are grey ({expected[outside][0]}, GarmentConfig.outside_grey), "
                    f"not {got[outside][0]}")
        if np.array_equal(got, case.data["unshifted"]):
            return ("where the window fits inside the photo, shift it inside (grey only where the window is "
                    "larger than the photo)")
        framed = case.data["framed"]
        top, left = _window_origin(expected, framed)
        for dy, dx in ((dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if dy or dx):
            window = framed[max(top + dy, 0):top + dy + side, max(left + dx, 0):left + dx + side]
            if window.shape == got.shape and np.array_equal(got, window):
                return (f"your window is off by {dx} column(s) and {dy} row(s): centre it on the box, "
                        "left = round((x0 + x1 - side) / 2), top = round((y0 + y1 - side) / 2), then shift it "
                        "inside the photo")
        row, col, channel = _first_difference(got, expected)
        return f"crop[{row}, {col}, {channel}] = {got[row, col, channel]}, expected {expected[row, col, channel]}"

    return _run("check_consumer_crop", consumer_crop, cases, judge)


def _window_origin(window: np.ndarray, framed: np.ndarray) -> tuple[int, int]:
    """Where ``window`` (the library's crop) sits in ``framed`` (the photo in a grey frame wider than
    the window), found by search rather than by repeating the library's placement rule."""
    side = window.shape[0]
    for top in range(framed.shape[0] - side + 1):
        for left in range(framed.shape[1] - side + 1):
            if np.array_equal(framed[top:top + side, left:left + side], window):
                return top, left
    raise AssertionError("the library's crop is not a window of the framed photo")


# --- 05: the DSH loss ------------------------------------------------------------------------------------

def _relaxed_codes(rng: np.random.Generator, count: int, bits: int):
    import torch

    return torch.from_numpy(np.tanh(rng.normal(0, 1.5, (count, bits))).astype(np.float32))


def check_dsh_pair_terms(pair_terms: Callable) -> Outcome:
    """Notebook 05. ``pair_terms(h1, h2, labels, margin)`` returns eq. 4's pair term for each of P aligned
    pairs of relaxed codes (h1, h2: P x k tensors; labels: P, 0 = SIMILAR, 1 = DISSIMILAR), without the
    regulariser: 1/2 ||h1 - h2||^2 for a similar pair, 1/2 max(m - ||h1 - h2||^2, 0) for a dissimilar one,
    as ``hashing.losses.dsh_pair_terms``."""
    import torch

    from .hashing import losses

    rng = np.random.default_rng(6)

    def case(name: str, h1, h2, labels, margin: float) -> Case:
        labels = torch.as_tensor(labels, dtype=torch.int64)
        return Case(name, (h1, h2, labels, margin), losses.dsh_pair_terms(h1, h2, labels, margin).numpy())

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

    def judge(case: Case, result) -> str | None:
        got, expected = _array(result).astype(float), case.expected
        h1, h2, labels, margin = (_array(value) for value in case.args)
        if got.ndim == 0:
            return f"return one value per pair, shape ({len(expected)},): no mean or sum over the pairs here"
        hint = _shape_hint(got, expected, "one value per pair")
        if hint:
            return hint
        if _close(got, expected):
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
            if _close(got, variant):
                return hint
        (pair,) = _first_difference(got, expected)
        kind = "similar" if similar[pair] else "dissimilar"
        return (f"pair {pair} ({kind}, squared distance {squared[pair]:.4f}): term {got[pair]:.4f}, "
                f"expected {expected[pair]:.4f}")

    return _run("check_dsh_pair_terms", pair_terms, cases, judge)


def check_dsh_loss(dsh: Callable) -> Outcome:
    """Notebook 05. ``dsh(codes, labels, margin, alpha)`` returns eq. 4 over a batch as a torch scalar
    that autograd can differentiate: ``codes`` N x k relaxed codes, ``labels`` the N x N pair labels of
    ``hashing.pair_labels`` (0 similar, 1 dissimilar, -1 left out). The mean pair term over the similar
    pairs (a code with itself is not a pair) plus the mean over the dissimilar pairs, plus ``alpha``
    times the mean over the codes of || |h| - 1 ||_1: ``hashing.dsh_loss(...)["loss"]``."""
    import torch

    from .hashing import losses

    rng = np.random.default_rng(7)

    def case(name: str, codes, ids, categories, margin: float, alpha: float) -> Case:
        labels = losses.pair_labels(np.asarray(ids), np.asarray(categories))
        codes = codes.clone().requires_grad_(True)
        with torch.no_grad():
            parts = {key: float(value) for key, value in losses.dsh_loss(codes, labels, margin, alpha).items()}
        return Case(name, (codes, labels, margin, alpha), parts["loss"], data=parts)

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

    def judge(case: Case, result) -> str | None:
        if not isinstance(result, torch.Tensor):
            return (f"return a torch scalar computed from `codes` with torch operations, so that the loss can be "
                    f"back-propagated (got {type(result).__name__})")
        if result.numel() != 1:
            return f"return one number for the whole batch, got shape {tuple(result.shape)}"
        if not result.requires_grad:
            return ("the loss does not reach `codes` through autograd (.item(), .numpy() or torch.tensor(...) "
                    "cut the graph): keep torch operations from codes to the loss")
        got, expected = float(result.detach()), case.expected
        if np.isclose(got, expected, rtol=1e-4, atol=1e-6):
            return None
        parts = case.data
        if np.isnan(got):
            if parts["pull"] == 0 or parts["push"] == 0:
                return ("a batch without similar (or dissimilar) pairs must give a pull (or push) of 0, not NaN: "
                        "the mean of an empty selection is NaN")
            return "the loss is NaN"
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
        for hint, value in variants.items():
            if not np.isclose(value, expected, rtol=1e-4, atol=1e-6) and np.isclose(got, value, rtol=1e-4, atol=1e-6):
                return hint
        return (f"loss {got:.6f}, expected {expected:.6f} = pull {parts['pull']:.6f} + push {parts['push']:.6f} "
                f"+ regulariser {parts['regulariser']:.6f}")

    return _run("check_dsh_loss", dsh, cases, judge)


# --- 06: retrieval --------------------------------------------------------------------------------------

def check_hamming_distances(hamming: Callable) -> Outcome:
    """Notebook 06. ``hamming(query_packed, gallery_packed)`` returns the (Q, G) integer Hamming distances
    between packed codes (uint8 rows, eight bits a byte, as ``retrieval.pack_codes`` makes them):
    XOR the bytes, count the set bits; ``retrieval.hamming_distances`` is the reference."""
    from .retrieval import hamming_distances, pack_codes

    rng = np.random.default_rng(8)

    def codes(count: int, bits: int) -> np.ndarray:
        return pack_codes(rng.random((count, bits)) < 0.5)

    def case(name: str, queries: np.ndarray, gallery: np.ndarray) -> Case:
        return Case(name, (queries, gallery), hamming_distances(queries, gallery), data={"bits": 8 * queries.shape[1]})

    same = codes(4, 48)
    full = codes(3, 64)
    cases = [case("5 queries x 40 gallery codes of 48 bits (6 bytes)", codes(5, 48), codes(40, 48)),
             case("12-bit codes (2 bytes, the last one padded with zero bits)", codes(4, 12), codes(9, 12)),
             case("72-bit codes (9 bytes: longer than one 64-bit word)", codes(3, 72), codes(7, 72)),
             case("identical codes (distance 0)", same, same.copy()),
             case("complementary 64-bit codes (every bit differs)", full, ~full),
             case("one query and one gallery code of 8 bits", np.array([[0b10110010]], dtype=np.uint8),
                  np.array([[0b00110111]], dtype=np.uint8))]

    def judge(case: Case, result) -> str | None:
        got, expected = _array(result), case.expected
        queries, gallery = case.args
        hint = _shape_hint(got, expected, "one row per query, one column per gallery code: (Q, G)")
        if hint:
            return hint
        if not np.array_equal(got, expected):
            xor = queries[:, None, :] ^ gallery[None, :, :]
            if np.array_equal(got, xor.astype(np.int64).sum(-1)):
                return ("count the set bits of the XOR (np.bitwise_count, or np.unpackbits then sum), not its byte "
                        "values")
            if np.array_equal(got, (xor != 0).sum(-1)):
                return "count the bits that differ, not the bytes that differ"
            if got.max() > case.data["bits"]:
                return f"a distance cannot exceed the code's {case.data['bits']} bits (got {got.max()})"
            query, item = _first_difference(got, expected)
            return f"distance(query {query}, gallery {item}) = {got[query, item]}, expected {expected[query, item]}"
        if not np.issubdtype(got.dtype, np.integer):
            return f"distances count bits: return an integer array (got {got.dtype})"
        return None

    return _run("check_hamming_distances", hamming, cases, judge)


def check_top_k(top_k: Callable) -> Outcome:
    """Notebook 06. ``top_k(distances, k)`` returns, for each row of a (Q, G) distance matrix, the gallery
    indices of its k smallest distances, nearest first, **ties broken by gallery order** (the lower
    index first): the course's one tie policy, ``retrieval.rank_rows``."""
    from .retrieval import rank_rows

    rng = np.random.default_rng(9)

    def case(name: str, distances: np.ndarray, k: int) -> Case:
        return Case(name, (distances, k), rank_rows(distances, k))

    hamming = rng.integers(0, 9, (6, 50)).astype(np.int32)
    cases = [case("6 queries x 50 gallery items, distances 0..8 (many ties), k = 5", hamming, 5),
             case("every distance equal: the first k gallery items, in order", np.full((2, 10), 7, np.int32), 4),
             case("ties across rank k: which tied items make the top k follows gallery order",
                  np.array([[3, 1, 2, 1, 1, 0, 1]], dtype=np.int32), 3),
             case("k = 1", hamming, 1),
             case("k = the gallery size (a whole ranking)", hamming[:2], 50),
             case("a 2,000-item gallery with 49 distinct distances, k = 20 (a sort that is not stable reorders "
                  "ties)", rng.integers(0, 49, (3, 2000)).astype(np.int32), 20),
             case("float distances with exact ties, k = 3", np.round(rng.random((4, 12)), 1), 3)]

    def judge(case: Case, result) -> str | None:
        got, expected = _array(result), case.expected
        distances, k = case.args
        if got.ndim == 2 and got.shape[0] == len(expected) and got.shape[1] != k:
            return f"return k = {k} gallery indices per query (the nearest first), got {got.shape[1]}"
        hint = _shape_hint(got, expected, "(Q, k): one row of k gallery indices per query")
        if hint:
            return hint
        if np.array_equal(got, expected):
            return None if np.issubdtype(got.dtype, np.integer) else f"return integer indices (got {got.dtype})"
        if not np.issubdtype(got.dtype, np.integer) and not np.array_equal(got, got.round()):
            return f"return gallery indices (integers), not distances (got {got.dtype} values)"
        got = got.astype(np.int64)
        if got.min() < 0 or got.max() >= distances.shape[1]:
            return f"indices must be gallery indices 0..{distances.shape[1] - 1}"
        if any(len(set(row)) < len(row) for row in got):
            return "a gallery item appears twice in one row"
        got_distances = np.take_along_axis(distances, got, axis=1)
        expected_distances = np.take_along_axis(distances, expected, axis=1)
        if np.array_equal(got_distances, expected_distances):
            query = int(np.flatnonzero((got != expected).any(1))[0])
            return (f"ties must keep gallery order: among equal distances the lower gallery index comes first "
                    f"(query {query}: {got[query].tolist()}, expected {expected[query].tolist()}); np.argsort(..., "
                    "kind='stable') keeps it, the default sort does not")
        if np.array_equal(np.sort(got_distances, axis=1), expected_distances):
            if (np.diff(got_distances, axis=1) <= 0).all():
                return "nearest first: the smallest distance at rank 0, in increasing order"
            return "sort the k nearest by distance: np.argpartition alone leaves them in no particular order"
        query = int(np.flatnonzero((got_distances != expected_distances).any(1))[0])
        return (f"query {query}: your k items lie at distances {got_distances[query].tolist()}, the k nearest at "
                f"{expected_distances[query].tolist()}")

    return _run("check_top_k", top_k, cases, judge)


def check_topk_accuracy(topk_accuracy: Callable) -> Outcome:
    """Notebook 06. ``topk_accuracy(ranking, relevant, k)`` returns the share (0..1) of queries with a
    relevant gallery item among their first k ranks: ``ranking`` (Q, R) gallery indices nearest first,
    ``relevant`` (Q, G) booleans indexed by gallery item. Queries with no relevant item are left out
    (NaN when none is left), as ``retrieval.topk_accuracy``."""
    from .retrieval import rank_rows
    from .retrieval import topk_accuracy as reference

    rng = np.random.default_rng(10)

    def case(name: str, ranking: np.ndarray, relevant: np.ndarray, k: int) -> Case:
        return Case(name, (ranking, relevant, k), reference(ranking, relevant, ks=(k,))[f"top{k}"])

    def one_relevant(queries: int, gallery: int) -> np.ndarray:
        relevant = np.zeros((queries, gallery), dtype=bool)
        relevant[np.arange(queries), rng.integers(0, gallery, queries)] = True
        return relevant

    ranking = rank_rows(rng.integers(0, 9, (8, 30)), 20)
    answerable = one_relevant(8, 30)
    some_unanswerable = answerable.copy()
    some_unanswerable[[1, 4]] = False
    many = rng.random((8, 30)) < 0.15
    many[:, 0] |= ~many.any(1)
    cases = [case("8 queries, 30 gallery items, one relevant item each, k = 5", ranking, answerable, 5),
             case("two queries with no relevant gallery item (left out of the mean), k = 10", ranking,
                  some_unanswerable, 10),
             case("several relevant items per query, k = 1", ranking, many, 1),
             case("k = the ranking's length (20 of 30 gallery items ranked)", ranking, answerable, 20),
             case("no query has a relevant item (the accuracy is undefined: NaN)", ranking,
                  np.zeros((8, 30), dtype=bool), 5)]

    def judge(case: Case, result) -> str | None:
        try:
            got = float(result)
        except (TypeError, ValueError):
            return f"return one number, the share of answered queries (got {type(result).__name__})"
        expected = case.expected
        ranking, relevant, k = case.args
        if np.isnan(expected):
            return None if np.isnan(got) else (f"no query can be answered here: the accuracy is undefined, return NaN "
                                               f"(not {got})")
        if np.isclose(got, expected):
            return None
        hits = np.take_along_axis(relevant, ranking, axis=1)
        answerable = relevant.any(1)
        first_k = "the first k ranks are ranking[:, :k] (0-based: ranks 0..k-1)"
        variants = [
            ("return a share between 0 and 1, not a percentage", 100 * expected),
            ("a query with no relevant gallery item can never be answered: leave it out of the mean (clothlib "
             "counts it apart) instead of counting it as a miss", hits[:, :k].any(1).mean()),
            ("relevant[q, g] is indexed by gallery item: look up relevant[q, ranking[q, r]] (np.take_along_axis), "
             "not relevant[q, r]", relevant[:, :k].any(1)[answerable].mean()),
            (first_k, hits[:, :k + 1].any(1)[answerable].mean()),
            (first_k, hits[:, :max(k - 1, 0)].any(1)[answerable].mean()),
        ]
        for hint, value in variants:
            if not np.isclose(value, expected) and np.isclose(got, value):
                return hint
        return f"got {got:.4f}, expected {expected:.4f}"

    return _run("check_topk_accuracy", topk_accuracy, cases, judge)
