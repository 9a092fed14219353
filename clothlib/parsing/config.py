"""``ParsingConfig``: the one place the parsing hyper-parameters live.

The command line builds its flags from it, a training run stores it in the released checkpoint,
and loading a checkpoint gives it back, so a notebook never has to remember how a model was made.
It is frozen (a run's settings cannot drift after its digest named its cache file) and inherits
``from_dict``, ``to_dict`` and ``digest`` from :class:`clothlib.harness.RunConfig`.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..harness import RunConfig

EVAL_HEIGHTS = (416, 512, 640, 768)  # inference heights tried on the validation split (tune-height)
# The shipped parsing network: the pipeline parses with it, the ``parsing`` hashing backbone reuses its
# encoder, and the README's parsing goals are its numbers. Its checkpoint is DEFAULT_PARSER_FILE.
DEFAULT_PARSER = "effnet_fcn"
DEFAULT_PARSER_FILE = f"{DEFAULT_PARSER}.pt"


@dataclass(frozen=True)
class ParsingConfig(RunConfig):
    """Everything that defines a parsing run. Learning rates are for the pixel-MEAN loss."""

    model: str = DEFAULT_PARSER
    width: float = 0.25          # VGG channel multiplier for net1 / net2 (1.0 = paper size)
    dropout: float = 0.1         # net2's dropout after every max-pool
    epochs: int = 30
    batch_size: int = 8
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    crop: tuple[int, int] = (320, 224)   # training crop (height, width)
    base_height: int = 416       # photos are resized to this height (x a random scale) for training
    scale: tuple[float, float] = (0.7, 1.3)
    eval_height: int = 416       # inference height; scores are upsampled to the annotation's size
    seed: int = 0
    workers: int = 1
    train_split: str = "train"
    val_split: str = "val"
    max_photos: int | None = None  # cap on photos per split (fast mode, sweeps)
    loss: str = "cross_entropy"  # a name in clothlib.parsing.losses.PIXEL_LOSSES
    init: str | None = None      # a released parsing checkpoint of this model to start from (fine-tuning)
