"""What defines a hashing run (:class:`HashingConfig`), which runs are shipped, and their file names.

``HashingConfig`` is the one place the hyper-parameters live: the command line's flags are made
from it, every checkpoint carries it, and its digest names a run trained into the cache folder.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import settings
from ..data import c2s
from ..harness import RunConfig
from .losses import DEFAULT_ALPHA, MU, default_margin
from .models import BITS, VARIANTS
from .quantisers import KINDS, quantiser_for

# The backbone the shipped networks train on (its checkpoints' names carry no backbone suffix): ImageNet's
# with its last stage tuned for garments (backbone_tuned.pt), which validation chose (the ablation).
DEFAULT_BACKBONE = "tuned"
# The shipped checkpoints (model, bits, backbone): checkpoints/train_hashing.sh trains these and the
# notebooks and README tables read them. catt3_net at 48 bits also on the untuned ImageNet backbone and
# on the parsing network's encoder, for the backbone comparison.
SHIPPED_RUNS = [("simnet", 48, DEFAULT_BACKBONE), ("catt_net", 48, DEFAULT_BACKBONE),
                ("catt2_net", 48, DEFAULT_BACKBONE), ("catt3_net", 48, DEFAULT_BACKBONE),
                ("catt3_net", 16, DEFAULT_BACKBONE), ("catt3_net", 32, DEFAULT_BACKBONE),
                ("catt3_net", 64, DEFAULT_BACKBONE), ("catt3_net", 48, "imagenet"), ("catt3_net", 48, "parsing")]
TRAIN_SCRIPT = "bash checkpoints/train_hashing.sh"  # makes every shipped checkpoint and results file


@dataclass(frozen=True)
class HashingConfig(RunConfig):
    """Everything that defines a hashing run."""

    model: str = "catt3_net"
    bits: int = 48
    backbone: str = DEFAULT_BACKBONE  # "imagenet", "parsing" (effnet_fcn's encoder) or "tuned" (backbone_tuned.pt)
    hidden: int = 512            # width of the trunk (= the float features' length)
    dropout: float = 0.2
    epochs: int = 30
    batch_size: int = 64         # items per step; each gives a consumer and a shop view
    lr: float = 1e-3             # AdamW, poly decay
    weight_decay: float = 1e-4
    margin: float | None = None  # None: DSH's 2 x bits
    alpha: float = DEFAULT_ALPHA
    mu: float = MU
    protocol: str = "instance"   # which ID makes a similar pair (clothlib.data.pairs.PROTOCOLS)
    same_category_push: float | None = 0.5  # x margin for same-category pairs of different IDs; None: left out
    seed: int = 0
    c2s: str | None = None       # consumer-to-shop folder; None: data/c2s
    max_items: int | None = None  # train (and validate) on the first N items of each split only: a small demo run
    quantiser: str = "sign_ste"  # how the hash layer makes bits: a name in clothlib.hashing.quantisers.KINDS

    @classmethod
    def from_dict(cls, values: dict):
        """As :meth:`RunConfig.from_dict`; a config written before the ``quantiser`` field existed was
        trained with the paper's tanh units (the default since is ``sign_ste``)."""
        return super().from_dict({"quantiser": "tanh", **values})

    def __post_init__(self):
        if self.bits not in BITS:
            raise ValueError(f"bits must be one of {BITS}, not {self.bits}")
        if self.model not in VARIANTS:
            raise ValueError(f"unknown hashing model {self.model!r}; choose one of {tuple(VARIANTS)}")
        quantiser_for(self.quantiser)  # an unknown name is an error listing the known ones

    @property
    def regulariser_weight(self) -> float:
        """alpha for the paper's tanh units; 0 for the others (sign_ste's codes are +-1 already, itq
        trains its float codes with no quantisation term by design): the quantiser's to say."""
        return KINDS[self.quantiser]().regulariser_weight(self.alpha)

    @property
    def folder(self) -> Path:
        return Path(self.c2s) if self.c2s else c2s.default_folder()

    @property
    def pair_margin(self) -> float:
        return self.margin if self.margin is not None else default_margin(self.bits)

    @property
    def same_category_margin(self) -> float | None:
        return None if self.same_category_push is None else self.same_category_push * self.pair_margin

    @property
    def name(self) -> str:
        """The checkpoint's stem: ``hash_catt3_net_48`` (the shipped file, or the cached run's prefix)."""
        return checkpoint_stem(self.model, self.bits, self.backbone)


def checkpoint_stem(model: str, bits: int, backbone: str = DEFAULT_BACKBONE) -> str:
    """``hash_catt3_net_48`` on the default backbone (``hash_catt3_net_48_parsing`` on the parsing one):
    the name of a shipped checkpoint and of every results file written beside it."""
    return f"hash_{model}_{bits}{'' if backbone == DEFAULT_BACKBONE else '_' + backbone}"


def checkpoint_name(model: str, bits: int, backbone: str = DEFAULT_BACKBONE) -> str:
    """The checkpoint file of :func:`checkpoint_stem`: ``hash_catt3_net_48.pt``."""
    return f"{checkpoint_stem(model, bits, backbone)}.pt"


# The network the course's later stages use (the pipeline, the web demo, the README's detailed
# retrieval rows): HashingConfig's defaults, catt3_net at 48 bits on the default backbone.
DEFAULT_NETWORK = checkpoint_stem("catt3_net", 48)


def shipped_path(config: HashingConfig) -> Path:
    """Where the shipped checkpoint of ``config``'s model, bits and backbone lives."""
    return settings.checkpoint_dir / checkpoint_name(config.model, config.bits, config.backbone)

