"""PyTorch datasets over CCP with joint image/mask augmentation (torchvision transforms v2).

Wrapping the mask as ``tv_tensors.Mask`` makes every geometric transform move image and mask
together, with nearest-neighbour resampling for the mask and colour transforms for the image only.
"""
from __future__ import annotations

import os

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from .ccp import annotated_ids, read_class_mask, read_photo
from .classes import IGNORE_INDEX
from .images import normalise
from .splits import load_split


def _normalise_image(image: tv_tensors.Image) -> tv_tensors.Image:
    """A uint8 3 x H x W image -> float32, ImageNet-normalised by :func:`clothlib.data.images.normalise`."""
    return tv_tensors.wrap(normalise(image.permute(1, 2, 0))[0], like=image)


def _to_float_normalised() -> list[v2.Transform]:
    return [v2.ToDtype({tv_tensors.Mask: torch.int64, "others": None}), v2.Lambda(_normalise_image, tv_tensors.Image)]


def train_transform(crop_size: tuple[int, int] = (320, 224), scale: tuple[float, float] = (0.5, 1.0),
                    base_height: int = 416) -> v2.Compose:
    """Flip, random scale then crop (padding the mask with IGNORE_INDEX), colour jitter.

    ``base_height`` is the photo height at scale 1.0 (CCP photos are about 830 x 550 px);
    ``crop_size`` is (height, width).
    """
    return v2.Compose([
        v2.RandomResize(int(base_height * scale[0]), int(base_height * scale[1]) + 1),
        v2.RandomCrop(crop_size, pad_if_needed=True, fill={tv_tensors.Image: 0, tv_tensors.Mask: IGNORE_INDEX}),
        v2.RandomHorizontalFlip(),
        v2.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.02),
        *_to_float_normalised(),
    ])


def eval_transform(height: int | None = 416) -> v2.Compose:
    """Resize the photo (and mask) to ``height`` px, or keep the original size with ``None``."""
    resize = [v2.Resize(height)] if height else []
    return v2.Compose([*resize, *_to_float_normalised()])


class CCPParsing(torch.utils.data.Dataset):
    """(image, mask) pairs of one split: image float 3 x H x W, mask int64 H x W of class indices."""

    def __init__(self, split: str | None = "train", transform: v2.Transform | None = None,
                 ids: list[str] | None = None, root: str | os.PathLike | None = None):
        self.ids = list(ids) if ids is not None else (load_split(split) if split else annotated_ids(root))
        self.transform = transform
        self.root = root

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        photo_id = self.ids[index]
        image = tv_tensors.Image(torch.from_numpy(read_photo(photo_id, self.root)).permute(2, 0, 1))
        mask = tv_tensors.Mask(torch.from_numpy(read_class_mask(photo_id, self.root)))
        if self.transform is not None:
            image, mask = self.transform(image, mask)
        return image, mask
