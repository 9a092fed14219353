"""Images as the networks take them: reading a view from disk and the ImageNet normalisation.

Every network in the course starts from an ImageNet-pretrained encoder, so every image it sees,
in training, inference or feature extraction, is scaled to 0..1 and normalised with ImageNet's
channel statistics. That step is written once, here, so the parsing network and the hashing
backbone can never disagree about it.
"""
from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalise(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 ``H x W x 3`` or ``N x H x W x 3`` (numpy or torch) -> float32 ``N x 3 x H x W``,
    scaled to 0..1 and normalised with the ImageNet mean and standard deviation."""
    x = torch.as_tensor(images)
    if x.dtype != torch.uint8 or x.ndim not in (3, 4) or x.shape[-1] != 3:
        raise ValueError(f"expected uint8 images shaped H x W x 3 or N x H x W x 3, got {x.dtype} "
                         f"{tuple(x.shape)}; convert the photo with np.asarray(Image.open(path).convert('RGB'))")
    if x.ndim == 3:
        x = x.unsqueeze(0)
    x = x.permute(0, 3, 1, 2).float().div_(255)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def read_view(path: str | os.PathLike) -> np.ndarray:
    """A consumer-to-shop view as H x W x 3 uint8, naming the file if it cannot be read."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: cannot read this view ({err}); repair the consumer-to-shop set with "
                         "`python data_scripts/build_c2s.py --verify` (and the options it was built with)") from err
