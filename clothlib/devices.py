"""Where the tensors live: ``CLOTHLIB_DEVICE`` resolved once, in one place, for every stage.

The course ships numbers computed on a CPU, and the default stays ``cpu`` so that a laptop
reproduces them bit for bit. ``CLOTHLIB_DEVICE`` may name ``cpu``, ``cuda``, ``cuda:N``, ``auto``
(CUDA when PyTorch sees a GPU, else the CPU) or ``meta`` (tensors with shapes and no data: how the
tests check, without a GPU, that no stage leaves its model or its batches on the CPU).

The rule every stage follows: whoever builds or loads a model puts it on :func:`current` (the run
harness's loader, the training commands, the frozen backbone); whoever runs a model sends its
inputs to that model's device (:func:`of`) and hands results back on the CPU (:func:`to_cpu`), where
NumPy, the dense CRF and the results files take them. On the CPU both moves are no-ops, which is why
the shipped numbers do not move.

On a GPU they do move, a little: CUDA's kernels add in another order (and cuDNN's convolutions use
TF32 on recent cards), so float results differ from the CPU's in the last bits. Where that reaches
a decision (an arg-max between two near-equal class probabilities, the sign of a relaxed hash bit
near zero) a few pixels or codes change. The notebooks' checks of shipped numbers allow for it:
parsing metrics recomputed on a subset must be within 0.05 points of the shipped file's (notebooks
02 and 03: one flipped pixel moves the mean IU of 40 photos by thousandths of a point at most),
and hashing codes must agree on at least 98 % of the items (notebooks 05 and 06: a bit flips
only where a relaxed output is within rounding of zero). Mixed precision (:func:`autocast`) is
used in training only, whose results are new checkpoints rather than checks of shipped ones.
Features and activations computed on a GPU are cached apart from the CPU's (:func:`cache_tag`),
so a GPU run never feeds a CPU run its numbers.
"""
from __future__ import annotations

import contextlib
import os

import torch

from .config import settings

NAMES = ("auto", "cpu", "cuda", "cuda:N", "meta")
GPU_WORKERS = 4  # data-loader workers on a GPU (capped by the CPU count): the GPU must not wait for JPEG decoding


def resolve(name: str) -> torch.device:
    """The device ``name`` means (one of :data:`NAMES`); a clear error for anything else, and for a
    CUDA device this machine does not have."""
    name = name.strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    kind, _, index = name.partition(":")
    if kind not in {"cpu", "cuda", "meta"} or (index and (kind != "cuda" or not index.isdigit())):
        raise ValueError(f"CLOTHLIB_DEVICE={name!r} is not a device: choose one of {', '.join(NAMES)}")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"CLOTHLIB_DEVICE={name!r} asks for a GPU, but PyTorch sees none (torch "
                               f"{torch.__version__}, CUDA build {torch.version.cuda}): unset it, or set it to "
                               "'auto' to use a GPU only where there is one")
        if index and int(index) >= torch.cuda.device_count():
            raise RuntimeError(f"CLOTHLIB_DEVICE={name!r}: this machine has {torch.cuda.device_count()} GPU(s), "
                               f"numbered from 0")
    return torch.device(name)


def current() -> torch.device:
    """The device the settings ask for (``CLOTHLIB_DEVICE``; ``cpu`` unless set)."""
    return resolve(settings.device)


def of(module: torch.nn.Module) -> torch.device:
    """The device of ``module``'s weights (the CPU for a module without any)."""
    return next(module.parameters(), torch.zeros(())).device


def to_device(value, device: torch.device):
    """``value`` (a tensor, or tuples, lists and dicts of them) on ``device``; other values as they are.
    Copies from pinned memory overlap with the GPU's work (``non_blocking``)."""
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=value.is_pinned())
    if isinstance(value, (tuple, list)):
        return type(value)(to_device(v, device) for v in value)
    if isinstance(value, dict):
        return {k: to_device(v, device) for k, v in value.items()}
    return value


def to_cpu(value):
    """``value`` (as :func:`to_device` takes it) back on the CPU, where NumPy can read it."""
    return to_device(value, torch.device("cpu"))


def loader_options(device: torch.device, workers: int) -> dict:
    """A DataLoader's ``num_workers`` and ``pin_memory`` for a run on ``device``: ``workers`` on the
    CPU (the shipped runs' setting; the cores are the model's too), at least :data:`GPU_WORKERS`
    and pinned memory on a GPU, which would otherwise wait for the photos to be decoded."""
    if device.type != "cuda":
        return {"num_workers": workers, "pin_memory": False}
    return {"num_workers": max(workers, min(GPU_WORKERS, os.cpu_count() or 1)), "pin_memory": True}


def autocast(device: torch.device):
    """Mixed precision where it is safe: bfloat16 convolutions on a GPU (bfloat16 keeps float32's
    range, so no loss scaling is needed), float32 elsewhere. Used for the parsing networks' training
    forward pass only; losses, softmax and every evaluation stay in float32."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def cache_tag(device: torch.device) -> list[str]:
    """What a cache key adds for ``device``: nothing for the CPU (the shipped caches keep their
    names), the device type otherwise (a GPU's features are not bit-equal to the CPU's)."""
    return [] if device.type == "cpu" else [device.type]
