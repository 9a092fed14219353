"""Notebook 02's exercises: the fusion decoder's bilinear kernel and skip fusion, and the Lovász gradient."""
from __future__ import annotations

import copy
import functools
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
    one_line,
    run_cases,
    shape_hint,
    type_hint,
    without_grad,
)


def check_bilinear_kernel(bilinear_kernel: Callable) -> Outcome:
    """Notebook 02. ``bilinear_kernel(channels, size)`` returns the ``channels x channels x size x size``
    weight that makes a ``ConvTranspose2d`` start as bilinear upsampling (FCN's initialisation): channel
    ``c`` feeds only channel ``c``, through the outer product of the triangle ``1 - |t - centre| / factor``
    with ``factor = (size + 1) // 2``."""
    from ..parsing.models import bilinear_kernel as _bilinear_kernel  # the parameter is named bilinear_kernel

    shapes = [(13, 4, "13 classes, kernel 4 (the x2 upsampler)"), (13, 16, "13 classes, kernel 16 (x8)"),
              (1, 2, "1 channel, kernel 2"), (3, 3, "an odd kernel size, 3"), (2, 1, "kernel size 1"),
              (13, 8, "13 classes, kernel 8 (x4)")]
    cases = [Case(name, (channels, size), _bilinear_kernel(channels, size).numpy()) for channels, size, name in shapes]

    def judge(case: Case, result) -> str | None:
        import torch

        hint = type_hint(result, torch.Tensor, "ConvTranspose2d's weight loads a tensor: build it with torch, e.g. "
                                               "torch.zeros(channels, channels, size, size)")
        if hint or not result.is_floating_point():
            return hint or f"return a float tensor (got {result.dtype}): the weights are fractions"
        got, expected = as_array(result).astype(float), case.expected
        size = case.args[1]
        if got.shape == (size, size):
            return (f"return the whole weight, shape {expected.shape} (channels x channels x size x size, as "
                    "ConvTranspose2d stores it), not one kernel")
        return shape_hint(got, expected, "channels x channels x size x size") or _kernel_hint(got, expected)

    return run_cases("check_bilinear_kernel", bilinear_kernel, cases, judge)


def _kernel_hint(got: np.ndarray, expected: np.ndarray) -> str | None:
    """What is wrong in a weight of the right shape (None when it is right)."""
    if close(got, expected):
        return None
    channels = len(expected)
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
    row, col = first_difference(kernel, expected[0, 0])
    return (f"kernel[{row}, {col}] = {kernel[row, col]:.4f}, expected {expected[0, 0, row, col]:.4f}: the "
            "kernel is outer(line, line) with line(t) = 1 - |t - centre| / factor, factor = (size + 1) // 2")


def check_skip_fusion(fuse: Callable) -> Outcome:
    """Notebook 02. ``fuse(deep, skip, up)`` is one step of the decoder (``FusionDecoder.forward``):
    upsample the deeper scores ``deep`` (N x C x h x w) with the transposed convolution ``up``, crop the
    result to the shallower scores' height and width from the top-left (``[..., :H, :W]``), and add
    ``skip`` (N x C x H x W). The reference is the library's decoder itself, run with identity score
    layers and the same ``up`` (whose weights are random here: after training they are not bilinear)."""
    import torch

    rng = np.random.default_rng(2)
    shapes = [("deep 4 x 6, skip 8 x 12 (exactly twice)", 1, 13, (4, 6), (8, 12)),
              ("deep 4 x 6, skip 7 x 11 (a stride-2 layer rounds up: up(deep) is one row and column too big)",
               1, 13, (4, 6), (7, 11)),
              ("deep 1 x 1, skip 1 x 1", 1, 13, (1, 1), (1, 1)),
              ("a batch of 2 with 3 classes, deep 3 x 4, skip 5 x 8", 2, 3, (3, 4), (5, 8))]
    with torch.random.fork_rng(), torch.no_grad():  # the decoder's constructor draws from the global generator
        cases = [_fusion_case(rng, *shape) for shape in shapes]
    return run_cases("check_skip_fusion", fuse, cases, functools.partial(_judge_fusion, fuse), _explain_fusion)


def _fusion_case(rng: np.random.Generator, name: str, batch: int, classes: int, deep_size: tuple,
                 skip_size: tuple) -> Case:
    """A case whose answer is what the library's decoder (identity score layers, random ``up``) fuses."""
    import torch

    from ..parsing.models import FusionDecoder

    decoder = FusionDecoder([classes, classes], classes, shallowest_stride=2)
    for score in decoder.scores:
        score.weight.copy_(torch.eye(classes).reshape(classes, classes, 1, 1))
    up = decoder.ups[0]
    up.weight.copy_(torch.from_numpy(rng.normal(0, 0.5, tuple(up.weight.shape)).astype(np.float32)))
    deep = torch.from_numpy(rng.normal(size=(batch, classes, *deep_size)).astype(np.float32))
    skip = torch.from_numpy(rng.normal(size=(batch, classes, *skip_size)).astype(np.float32))
    fused = []  # what the decoder feeds its last upsampler: the fusion's output
    hook = decoder.final_up.register_forward_pre_hook(lambda module, inputs: fused.append(inputs[0]))
    decoder([skip, deep])
    hook.remove()
    args = (deep, skip, up)
    return Case(name, args, fused[0].numpy(), data={"upsampled": up(deep).numpy()},
                call=lambda student: without_grad(student, args))


def _judge_fusion(fuse: Callable, case: Case, result) -> str | None:
    got, expected = as_array(result), case.expected
    upsampled, skip = case.data["upsampled"], case.args[1].numpy()
    height, width = expected.shape[-2:]
    if got.shape == upsampled.shape and got.shape != expected.shape:
        return f"crop up(deep) to skip's height and width ([..., :{height}, :{width}]) before adding"
    hint = shape_hint(got, expected, "the fused scores have skip's shape, N x C x H x W")
    if hint or close(got, expected):
        return hint
    if close(got, upsampled[..., :height, :width]):
        return "add the skip scores: fused = up(deep)[..., :H, :W] + skip"
    offsets = [(dy, dx) for dy in range(upsampled.shape[-2] - height + 1)
               for dx in range(upsampled.shape[-1] - width + 1) if dy or dx]
    if any(close(got, upsampled[..., dy:dy + height, dx:dx + width] + skip) for dy, dx in offsets):
        return ("crop the extra rows and columns at the bottom and right ([..., :H, :W]): pixel j of "
                "up(deep) lies over pixel j of skip, so cropping at the top or left shifts the scores")
    if _ignores_up(fuse, case, got):
        return ("your result does not change when up's weights do: upsample with the given transposed "
                "convolution `up` (its weights are learned), not a fixed interpolation")
    index = first_difference(got, expected)
    return (f"fused{list(index)} = {got[index]:.4f}, expected {expected[index]:.4f}: "
            "fused = up(deep)[..., :H, :W] + skip")


def _ignores_up(fuse: Callable, case: Case, got: np.ndarray) -> bool:
    """Whether the student's fusion gives the same result with ``up``'s weights zeroed."""
    import torch

    deep, skip, up = copy.deepcopy(case.args)
    with torch.no_grad():
        up.weight.zero_()
    try:
        return close(as_array(without_grad(fuse, (deep, skip, up))), got)
    except Exception:  # the probe only sharpens the hint; the generic one follows
        return False


def _explain_fusion(case: Case, error: Exception) -> str | None:
    if "size of tensor" in str(error) or "must match" in str(error):
        return ("up(deep) is larger than skip here (a stride-2 layer rounds sizes up): crop it to skip's height "
                f"and width ([..., :H, :W]) before adding ({type(error).__name__}: {error})")
    return None


def check_lovasz_gradient(lovasz_gradient: Callable) -> Outcome:
    """Notebook 02. ``lovasz_gradient(foreground_sorted)`` takes one class's 0/1 labels of the pixels
    sorted by decreasing error and returns the Jaccard loss's increments (Berman et al. 2018, Alg. 1):
    with ``P`` foreground pixels, counting the first ``i + 1`` pixels as errors gives
    ``J_i = 1 - (P - cumsum(g)_i) / (P + cumsum(1 - g)_i)``, and entry ``i`` is ``J_i - J_(i-1)``
    (``J_(-1) = 0``). Their dot product with the sorted errors is the Lovász-softmax loss of the class."""
    import torch

    from ..parsing.losses import lovasz_gradient as _lovasz_gradient  # the parameter is named lovasz_gradient

    rng = np.random.default_rng(5)
    vectors = [("5 pixels, foreground [0, 1, 1, 0, 1]", [0, 1, 1, 0, 1]),
               ("5 pixels, foreground [1, 0, 1, 1, 0]", [1, 0, 1, 1, 0]),
               ("every pixel foreground, [1, 1, 1]", [1, 1, 1]), ("one pixel, [1]", [1]),
               ("200 pixels, a third of them foreground", (rng.random(200) < 1 / 3).astype(int).tolist())]
    cases = []
    for name, vector in vectors:
        foreground = torch.tensor(vector, dtype=torch.float32)
        cases.append(Case(name, (foreground,), _lovasz_gradient(foreground).numpy(), data={"g": np.array(vector)}))

    return run_cases("check_lovasz_gradient", lovasz_gradient, cases, _judge_lovasz)


def _jaccard(total, seen: np.ndarray, missed: np.ndarray) -> np.ndarray:
    """J_i = 1 - intersection_i / union_i with ``seen``/``missed`` foreground/background pixels in error."""
    return 1 - (total - seen) / (total + missed)


def _increments(jaccard: np.ndarray) -> np.ndarray:
    return np.concatenate([jaccard[:1], np.diff(jaccard)])


def _lovasz_mistakes(g: np.ndarray, expected: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(hint, what that mistake returns) for each mistake class students make in the Lovász gradient."""
    total, background = g.sum(), 1 - g
    jaccard = _jaccard(total, np.cumsum(g), np.cumsum(background))
    shifted = ("the increments start with J_0 itself (J_(-1) = 0 comes first, so entry i is J_i - J_(i-1)): your "
               "entries are shifted one place, with the extra value at the end instead of J_0 at the start")
    return [
        ("return the increments J_i - J_(i-1), not the Jaccard losses J_i themselves: the loss is their dot product "
         "with the sorted errors", jaccard),
        ("the sign is flipped: J is the Jaccard *loss*, 1 - intersection / union, so its increments are those of "
         "the IoU negated", -expected),
        ("count pixel i itself in J_i (an inclusive cumsum, np.cumsum(g)), not only the pixels before it",
         _increments(_jaccard(total, np.cumsum(g) - g, np.cumsum(background) - background))),
        ("P is the number of foreground pixels, g.sum(), not the number of pixels len(g)",
         _increments(_jaccard(len(g), np.cumsum(g), np.cumsum(background)))),
        ("cumsum from the first pixel (the largest error) on: J_i counts pixels 0..i as errors, so do not reverse "
         "the cumulative sums",
         _increments(_jaccard(total, np.cumsum(g[::-1])[::-1], np.cumsum(background[::-1])[::-1]))),
        (shifted, np.append(np.diff(jaccard), 0.0)),
        (shifted, np.diff(jaccard, append=0.0)),
        (f"entry 0 = 0, expected {expected[0]:.4f}: it is J_0 itself, the loss with only the first pixel in error "
         "(J_(-1) = 0)", np.concatenate([[0.0], expected[1:]])),
    ]


def _judge_lovasz(case: Case, result) -> str | None:
    got, expected = as_array(result).astype(float), case.expected.astype(float)
    g = case.data["g"]
    if got.shape == (len(g) - 1,):
        return ("one increment per pixel: entry 0 is J_0 itself (J of no error is 0), so keep it: "
                "cat([J[:1], J[1:] - J[:-1]])")
    hint = shape_hint(got, expected, "one increment per pixel, a vector as long as foreground_sorted")
    if hint or close(got, expected):
        return hint
    hint = first_match(got, expected, _lovasz_mistakes(g, expected))
    if hint:
        return hint
    if not np.isclose(got.sum(), 1, atol=1e-5):
        return (f"your increments sum to {got.sum():.4f}, not 1: they telescope to J_(n-1), the loss with every "
                "pixel in error, which is 1 (no intersection left)")
    (index,) = first_difference(got, expected)
    return (f"entry {index} = {got[index]:.4f}, expected {expected[index]:.4f}: with P foreground pixels, "
            "intersection_i = P - cumsum(g)_i and union_i = P + cumsum(1 - g)_i")


# --- the build exercises: the whole decoder, and one training epoch ---------------------------------

def _fusion_decoder_class():
    """The library's decoder with the interface the notebook's ``MyDecoder`` has: ``forward(taps, size)``
    crops the scores to the input's ``size`` (the crop ``ParsingNet.forward`` does after the decoder)."""
    from ..parsing.models import FusionDecoder

    class SizedFusionDecoder(FusionDecoder):
        """``FusionDecoder`` whose scores come back at ``size`` (height, width): the input's own size."""

        def forward(self, taps, size):
            return super().forward(taps)[..., : size[0], : size[1]]

    return SizedFusionDecoder


def library_decoder(tap_channels, num_classes: int, shallowest_stride: int):
    """Notebook 02's fallback for ``MyDecoder``: the library's fusion decoder, ``forward(taps, size)``."""
    return _fusion_decoder_class()(list(tap_channels), num_classes, shallowest_stride)


_DECODER_NAMES = ("name the layers as the library does, so its weights load: `scores` (nn.ModuleList of 1x1 "
                  "Conv2d, shallow to deep), `ups` (nn.ModuleList of the x2 ConvTranspose2d, bias=False) and "
                  "`final_up` (the last ConvTranspose2d, bias=False)")

# (name, tap channels, classes, shallowest stride, batch, input height and width): tap k has stride
# shallowest * 2**k and size ceil(input / stride), so odd sizes need the crops
_DECODER_SHAPES = [
    ("the shipped encoder's taps (24, 40, 112, 320 channels at strides 4-32), input 64 x 32", (24, 40, 112, 320),
     13, 4, 1, (64, 32)),
    ("the same taps, input 100 x 70 (not a multiple of 32: every upsampled map is one row or column too big)",
     (24, 40, 112, 320), 13, 4, 1, (100, 70)),
    ("net1's taps (16, 32, 32 channels at strides 8-32), a batch of 2, 5 classes, input 75 x 41",
     (16, 32, 32), 5, 8, 2, (75, 41)),
]


def check_decoder(decoder_class: Callable) -> Outcome:
    """Notebook 02. ``decoder_class(tap_channels, num_classes, shallowest_stride)`` builds the fusion
    decoder (``clothlib.parsing.models.FusionDecoder``) with the library's layer names; its
    ``forward(taps, size)`` returns the class scores (logits) at the input's ``size``. The check builds
    it fresh (its upsamplers must start bilinear, its score layers at zero), loads seeded random weights
    into it and the library's decoder, and compares their outputs on seeded taps of sizes that need every
    crop, and the gradients with respect to the taps and to every parameter (``core.gradient_hint``)."""
    import torch

    rng = np.random.default_rng(24)
    with torch.random.fork_rng():  # the constructors draw from the global generator
        torch.manual_seed(0)
        cases = [_decoder_case(rng, *shape) for shape in _DECODER_SHAPES]
    return run_cases("check_decoder", decoder_class, cases, _judge_decoder, _explain_decoder)


def _decoder_case(rng: np.random.Generator, name: str, channels: tuple, classes: int, stride: int, batch: int,
                  size: tuple) -> Case:
    import torch


    reference = library_decoder(channels, classes, stride)
    state = {key: torch.from_numpy(rng.normal(0, 0.3, tuple(value.shape)).astype(np.float32))
             for key, value in reference.state_dict().items()}
    reference.load_state_dict(state)
    taps = [torch.from_numpy(rng.normal(size=(batch, c, -(-size[0] // (stride * 2 ** k)),
                                              -(-size[1] // (stride * 2 ** k)))).astype(np.float32))
            for k, c in enumerate(channels)]
    with torch.no_grad():
        expected = reference(taps, size)

    def call(decoder_class):
        with torch.random.fork_rng():
            module = decoder_class(list(channels), classes, stride)
        fresh = {key: value.detach().clone() for key, value in module.state_dict().items()}
        hint = _state_hint(module, reference)
        if hint:
            return ("hint", hint)
        module.load_state_dict(state)
        names = [key for key, _ in reference.named_parameters()]
        params = dict(module.named_parameters())
        leaves = [tap.clone().requires_grad_(True) for tap in taps]
        output = module(leaves, size)
        return ("traced", Traced(output, (*leaves, *(params[key] for key in names))), fresh, _upsamplers_used(module))

    def functional(*inputs):
        weights = dict(zip([key for key, _ in reference.named_parameters()], inputs[len(taps):], strict=True))
        return torch.func.functional_call(reference, weights, (list(inputs[: len(taps)]), size))

    return Case(name, (channels, classes, stride), expected.numpy(), call=call,
                data={"reference": reference, "functional": functional, "taps": len(taps), "size": size,
                      "uncropped": _uncropped(reference, taps), "reversed_ups": _reversed_ups(reference, taps, size)})


def _uncropped(reference, taps):
    import torch

    from ..parsing.models import FusionDecoder

    with torch.no_grad():
        return FusionDecoder.forward(reference, taps).numpy()


def _reversed_ups(reference, taps, size):
    """What the decoder gives when the x2 upsamplers are used in the wrong order (deepest with ups[0])."""
    import torch

    swapped = copy.deepcopy(reference)
    swapped.ups = torch.nn.ModuleList(list(swapped.ups)[::-1])
    with torch.no_grad():
        return swapped(taps, size).numpy()


def _upsamplers_used(module) -> bool:
    """Whether the module's scores are constant with ``final_up``'s weights zeroed (the library's are all 0,
    it has no bias), i.e. whether it upsamples with its transposed convolution, not a fixed interpolation."""
    import torch

    probe = copy.deepcopy(module)
    taps = [torch.ones(1, conv.in_channels, 2 ** (len(probe.scores) - k), 2 ** (len(probe.scores) - k))
            for k, conv in enumerate(probe.scores)]
    with torch.no_grad():
        probe.final_up.weight.zero_()
        scores = probe(taps, (8, 8))
    return bool(torch.is_tensor(scores) and torch.all(scores == scores.flatten()[0]))


def _state_hint(module, reference) -> str | None:
    """The first layer name or shape that differs from the library's decoder (so its weights cannot load)."""
    import torch

    if not isinstance(module, torch.nn.Module):
        return f"MyDecoder must be an nn.Module (class MyDecoder(nn.Module)), got a {type(module).__name__}"
    got = {key: tuple(value.shape) for key, value in module.state_dict().items()}
    expected = {key: tuple(value.shape) for key, value in reference.state_dict().items()}
    extra = [key for key in got if key not in expected]
    if any(key.endswith("bias") and key.startswith(("ups", "final_up")) for key in extra):
        return f"the upsamplers have no bias (ConvTranspose2d(..., bias=False)): {extra[0]} should not exist"
    missing = [key for key in expected if key not in got]
    if missing or extra:
        return f"{_DECODER_NAMES}; missing {missing[:2]}, unexpected {extra[:2]}"
    for key, shape in expected.items():
        if got[key] != shape:
            return (f"{key} has shape {got[key]}, expected {shape}: score layer k is Conv2d(tap_channels[k], "
                    "num_classes, 1); every upsampler maps num_classes to num_classes with a kernel of twice its "
                    "stride (4 for x2, 2 * shallowest_stride for the last)")
    return None


def _init_hint(fresh: dict, reference) -> str | None:
    """What is wrong with a freshly built decoder's starting weights (bilinear upsamplers, zero scores)."""
    from ..parsing.models import bilinear_kernel

    for key, value in fresh.items():
        if key.startswith(("ups", "final_up")):
            if not close(as_array(value), bilinear_kernel(value.shape[0], value.shape[-1])):
                return (f"{key} does not start as bilinear upsampling: copy bilinear_kernel(num_classes, kernel size) "
                        "into each transposed convolution's weight (FCN's initialisation)")
        elif not np.allclose(as_array(value), 0):
            return (f"{key} does not start at zero: zero the score layers' weights and biases (FCN's initialisation, "
                    "every class equally likely at first, loss = log C)")
    return None


def _judge_decoder(case: Case, result) -> str | None:
    import torch


    if result[0] == "hint":
        return result[1]
    _, traced, fresh, upsamplers_used = result
    hint = type_hint(traced.output, torch.Tensor, "the class scores, N x classes x H x W")
    if hint:
        return hint
    got, expected, height, width = as_array(traced.output), case.expected, *case.data["size"]
    if got.shape == case.data["uncropped"].shape and got.shape != expected.shape:
        return (f"the scores come back {got.shape[-2]} x {got.shape[-1]}, the padded size: crop them to the input's "
                f"size ([..., :{height}, :{width}]) after the last upsampler")
    hint = shape_hint(got, expected, f"N x classes x the input's size ({height} x {width})")
    if hint:
        return hint
    if not close(got, expected, atol=1e-4):
        if not upsamplers_used:
            return ("your scores still vary when final_up's weights are zeroed: upsample with the transposed "
                    "convolutions `ups` and `final_up` (their weights are learned), not a fixed interpolation")
        softmax = torch.softmax(torch.from_numpy(expected), 1).numpy()
        return first_match(got, expected, {
            "return the logits (the scores before softmax): the loss applies log-softmax itself": softmax,
            "use the x2 upsamplers deep to shallow in reverse order of ups: ups[-1] upsamples the deepest scores "
            "(zip(reversed(...)) over scores, ups and taps alike)": case.data["reversed_ups"],
        }, same=lambda a, b: close(a, b, atol=1e-4)) or (
            f"scores{list(first_difference(got, expected, atol=1e-4))} differ from the library's decoder: score the "
            "deepest tap, then for each shallower tap upsample x2 with its `ups` layer, crop to that tap's size and "
            "add its scores; upsample the sum with `final_up` and crop to the input size")
    hint = gradient_hint(traced, case.data["functional"],
                         {k: f"taps[{k}]" if k < case.data["taps"] else name for k, name in
                          enumerate([*range(case.data["taps"]), *case.data["reference"].state_dict()])})
    return hint or _init_hint(fresh, case.data["reference"])


def _explain_decoder(case: Case, error: Exception) -> str | None:
    message = str(error)
    if "size of tensor" in message or "must match" in message:
        return ("two score maps of different sizes were added: upsample the deeper scores with its x2 `ups` layer "
                "first, crop them to the shallower tap's size ([..., :h, :w]), then add that tap's scores "
                f"({type(error).__name__}: {one_line(message)[:160]})")
    if "channels" in message:
        return ("a score layer met a tap of another width: scores[k] scores taps[k] (shallow to deep, "
                f"tap_channels[k] input channels) ({type(error).__name__}: {one_line(message)[:160]})")
    return None


def library_train_one_epoch(model, batches, optimiser, base_lr: float, step0: int, total_steps: int) -> list[float]:
    """The library's training loop behind the interface of notebook 02's ``train_one_epoch``: one epoch of
    :func:`clothlib.engine.fit` with the parsing step (the pixel cross-entropy) and the poly schedule
    (:func:`clothlib.engine.poly_schedule`) advanced to ``step0`` of ``total_steps``; returns each batch's
    loss. The check's reference and the notebook's fallback; it leaves the global random state alone and
    keeps fit's per-epoch state file in a temporary folder."""
    import tempfile
    import warnings
    from pathlib import Path

    from .. import engine
    from ..parsing.training import pixel_step

    for group in optimiser.param_groups:
        group["lr"] = group["initial_lr"] = base_lr
    scheduler = engine.poly_schedule(optimiser, total_steps)
    with warnings.catch_warnings():  # stepping the schedule to step0 before this run's first optimiser step
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(step0):
            scheduler.step()
    library_step, losses = pixel_step("cross_entropy"), []

    def step(model, batch):
        loss, numbers = library_step(model, batch)
        losses.append(loss.item())
        return loss, numbers

    with tempfile.TemporaryDirectory() as folder, _quiet_and_seed_kept():
        engine.fit(model, optimiser, list(batches), step, epochs=1, state_path=Path(folder) / "state.pt",
                   scheduler=scheduler, desc="epoch")
    return losses


class _quiet_and_seed_kept:  # noqa: N801 - a context manager, named for the with-statement it reads in
    """Silence fit's epoch line and bar, and restore Python's, NumPy's and PyTorch's random state after it
    (fit seeds every epoch)."""

    def __enter__(self):
        import contextlib
        import io
        import os
        import random

        import torch

        self.states = random.getstate(), np.random.get_state(), torch.random.get_rng_state()
        self.stack = contextlib.ExitStack()
        self.stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        self.previous = os.environ.get("TQDM_DISABLE")
        os.environ["TQDM_DISABLE"] = "1"
        return self

    def __exit__(self, *exc):
        import os
        import random

        import torch

        self.stack.close()
        if self.previous is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = self.previous
        random.setstate(self.states[0])
        np.random.set_state(self.states[1])
        torch.random.set_rng_state(self.states[2])
        return False


def _tiny_run(seed: int):
    """A tiny parsing network (conv, BatchNorm, conv: 4 classes) left in eval mode, as after an evaluation,
    and its SGD optimiser (the library's momentum and weight decay), fresh from ``seed``."""
    import torch
    from torch import nn

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.Conv2d(6, 4, 1))
    model.eval()
    return model, torch.optim.SGD(model.parameters(), lr=_BASE_LR, momentum=0.9, weight_decay=1e-4)


def _tiny_batches(rng: np.random.Generator, count: int) -> list:
    """``count`` batches of 2 images (3 x 6 x 5) and masks of 4 classes, a sixth of their pixels ignored."""
    import torch

    from ..data.classes import IGNORE_INDEX

    batches = []
    for _ in range(count):
        masks = rng.integers(0, 4, (2, 6, 5))
        masks[rng.random(masks.shape) < 1 / 6] = IGNORE_INDEX
        images = (rng.normal(size=(2, 3, 6, 5)) + masks[:, None].clip(0, 3)).astype(np.float32)
        batches.append((torch.from_numpy(images), torch.from_numpy(masks)))
    return batches


class _Recorder:
    """Watches a student's epoch: each forward's train/eval mode, and at each optimiser step the learning
    rate, the gradients the step is about to apply, and the loss and gradients of that step's batch alone
    (computed on a copy of the model in train mode with the library's loss)."""

    def __init__(self, model, optimiser, batches: list):
        self.model, self.batches, self.modes, self.steps, self.busy = model, batches, [], [], False
        self.handles = [model.register_forward_pre_hook(self._forward),
                        optimiser.register_step_pre_hook(self._step)]

    def _forward(self, module, inputs):
        if not self.busy:
            self.modes.append(module.training)

    def _step(self, optimiser, args, kwargs):
        import torch

        from ..data.classes import IGNORE_INDEX
        from ..parsing.losses import cross_entropy

        params = list(self.model.parameters())
        record = {"lr": optimiser.param_groups[0]["lr"],
                  "grads": [None if p.grad is None else p.grad.detach().clone() for p in params]}
        if len(self.steps) < len(self.batches):
            images, masks = self.batches[len(self.steps)]
            self.busy = True
            twin = copy.deepcopy(self.model).train()
            scores = twin(images)
            self.busy = False
            loss = cross_entropy(scores, masks, IGNORE_INDEX)
            record["fresh"] = torch.autograd.grad(loss, list(twin.parameters()))
            per_pixel = torch.nn.functional.cross_entropy(scores, masks, ignore_index=IGNORE_INDEX, reduction="none")
            valid = (masks != IGNORE_INDEX).float()
            record["losses"] = {"library": loss.item(), "sum": per_pixel.sum().item(),
                                "per image": (per_pixel.sum((1, 2)) / valid.sum((1, 2))).mean().item()}
        self.steps.append(record)

    def close(self):
        for handle in self.handles:
            handle.remove()


_BASE_LR = 0.2
_EPOCH_RUNS = [("an epoch of 4 batches from step 0 of 8, the model handed over in eval mode", 0, 8),
               ("the second epoch: 4 batches from step 4 of 8 (the poly schedule goes on where it was)", 4, 8)]


def check_train_epoch(train_one_epoch: Callable) -> Outcome:
    """Notebook 02. ``train_one_epoch(model, batches, optimiser, base_lr, step0, total_steps)`` trains
    ``model`` for one pass over ``batches`` ((images, masks) pairs) and returns each batch's loss: train
    mode; for batch ``i`` the poly rate ``base_lr * (1 - (step0 + i) / total_steps) ** 0.9`` (FCN/DeepLab,
    :func:`clothlib.engine.poly_schedule`); the pixel cross-entropy averaged over the labelled pixels
    (``ignore_index=255``); zero_grad, backward, step. The check runs it and the library's loop
    (:func:`library_train_one_epoch`, i.e. ``engine.fit``) from the same seed on a tiny network and
    compares the loss trajectory and the final weights; a recorder names the step that went wrong."""
    rng = np.random.default_rng(24)
    base_lr, cases = _BASE_LR, []
    for name, step0, total in _EPOCH_RUNS:
        batches = _tiny_batches(rng, 4)
        model, optimiser = _tiny_run(seed=step0)
        losses = library_train_one_epoch(model, batches, optimiser, base_lr, step0, total)
        expected = {"losses": np.array(losses), "state": {k: v.numpy() for k, v in model.state_dict().items()}}
        cases.append(Case(name, (base_lr, step0, total), expected, data={"batches": batches},
                          call=functools.partial(_run_epoch, batches, step0, base_lr, step0, total)))
    return run_cases("check_train_epoch", train_one_epoch, cases, _judge_epoch, _explain_epoch)


def _run_epoch(batches, seed, base_lr, step0, total, student):
    model, optimiser = _tiny_run(seed)
    recorder = _Recorder(model, optimiser, batches)
    try:
        losses = student(model, list(batches), optimiser, base_lr, step0, total)
    finally:
        recorder.close()
    return {"losses": losses, "state": {k: v.detach().numpy() for k, v in model.state_dict().items()},
            "recorder": recorder}


def _judge_epoch(case: Case, result) -> str | None:
    losses, expected, batches = result["losses"], case.expected, case.data["batches"]
    if not isinstance(losses, (list, tuple)) or len(losses) != len(batches):
        return (f"return a list of {len(batches)} losses, one per batch (loss.item() after each step), "
                f"not {type(losses).__name__}" + (f" of {len(losses)}" if hasattr(losses, "__len__") else ""))
    got = np.array([float(loss) for loss in losses])
    if close(got, expected["losses"], atol=1e-4) and all(
            close(result["state"][key], value, atol=1e-4) for key, value in expected["state"].items()):
        return None
    recorder = result["recorder"]
    if not all(recorder.modes):
        return ("the model ran in eval mode: call model.train() first (BatchNorm normalises with the batch's own "
                "statistics while training; the model may arrive in eval mode after an evaluation)")
    if len(recorder.steps) != len(batches):
        return f"call optimiser.step() once per batch: it ran {len(recorder.steps)} times for {len(batches)} batches"
    return _lr_hint(case, recorder) or _step_hint(got, recorder) or (
        "the final weights differ from the library's loop: forward, F.cross_entropy(scores, masks, "
        "ignore_index=255), optimiser.zero_grad(), loss.backward(), optimiser.step()")


def _lr_hint(case: Case, recorder) -> str | None:
    base_lr, step0, total = case.args
    count = len(case.data["batches"])

    def rates(first: int, power: float = 0.9) -> list[float]:
        return [base_lr * max(0.0, 1 - step / total) ** power for step in range(first, first + count)]

    poly, lrs = rates(step0), np.array([record["lr"] for record in recorder.steps])
    if close(lrs, poly, atol=1e-9):
        return None
    return first_match(lrs, poly, [
        ("the learning rate never changes: set group['lr'] of every optimiser.param_groups before each step",
         [base_lr] * count),
        ("the poly schedule is one step ahead: batch i of this epoch is step step0 + i (the very first batch uses "
         "base_lr itself)", rates(step0 + 1)),
        ("the poly schedule restarts every epoch: batch i is global step step0 + i, not i", rates(0)),
        ("the poly rate is base_lr * (1 - step / total_steps) ** 0.9: the power 0.9 is missing", rates(step0, 1.0)),
    ], same=lambda a, b: close(a, b, atol=1e-9)) or (
        f"the learning rates were {np.round(lrs, 5).tolist()}, expected {np.round(poly, 5).tolist()}: "
        "base_lr * (1 - (step0 + i) / total_steps) ** 0.9 for batch i")


def _step_hint(got: np.ndarray, recorder) -> str | None:
    """The first step whose gradient or loss is not what the library's step computes, and why."""
    previous = None
    for index, record in enumerate(recorder.steps):
        grads = [None if g is None else as_array(g) for g in record["grads"]]
        if all(g is None or not np.any(g) for g in grads):
            return (f"at batch {index} optimiser.step() found no gradient: call loss.backward() before "
                    "optimiser.step() (and optimiser.zero_grad() before backward, not between it and the step)")
        hint = first_match(got[index:index + 1], [record["losses"]["library"]], [
            ("the loss is summed over the pixels: average it over the labelled pixels (F.cross_entropy's default "
             "reduction='mean', with ignore_index=255)", [record["losses"]["sum"]]),
            ("the loss is averaged per image, then over the batch: the library averages over all the labelled "
             "pixels of the batch at once (F.cross_entropy(scores, masks, ignore_index=255))",
             [record["losses"]["per image"]])], same=lambda a, b: close(a, b, atol=1e-5))
        if hint:
            return f"at batch {index}: {hint}"
        fresh = [as_array(g) for g in record["fresh"]]
        zeros = [np.zeros_like(f) if g is None else g for g, f in zip(grads, fresh, strict=True)]
        if not all(close(g, f, atol=1e-5) for g, f in zip(zeros, fresh, strict=True)):
            if previous is not None and all(close(g, p + f, atol=1e-5) for g, p, f in zip(zeros, previous, fresh,
                                                                                            strict=True)):
                return (f"at batch {index} the step applied this batch's gradient plus the last one's: call "
                        "optimiser.zero_grad() every batch (backward() adds to .grad)")
            return (f"at batch {index} the step did not apply that batch's own gradient: for each batch, "
                    "zero_grad(), then loss.backward(), then optimiser.step()")
        previous = zeros
    return None


def _explain_epoch(case: Case, error: Exception) -> str | None:
    if "out of bounds" in str(error):
        return ("pixels labelled 255 (IGNORE_INDEX: padding and unlabelled pixels) are not a class: pass "
                f"ignore_index=255 to F.cross_entropy ({type(error).__name__}: {one_line(error)[:120]})")
    return None
