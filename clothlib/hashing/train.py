"""Training, evaluation and code export for the hashing networks.

``HashingConfig`` is the one place their hyper-parameters live. Training runs on cached backbone
features (:mod:`clothlib.hashing.features`), so a step costs a few matrix products: the default
run (30 epochs over ~6,900 training items) takes minutes on two cores.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import __version__, engine
from ..config import settings
from ..data import c2s
from ..engine import fit, poly_schedule
from ..io import atomic_write
from ..retrieval import pack_codes, score_codes
from .features import split_features
from .losses import DEFAULT_ALPHA, IGNORED, MU, SIMILAR, default_margin, dsh_loss, multitask_loss, pair_labels
from .models import BITS, CATEGORY_TASK, HashingNet, task_values, variant_tasks, VARIANTS

TRAIN_COMMAND = "python -m clothlib.hashing train --model MODEL --bits BITS"
# The shipped checkpoints (model, bits, backbone): checkpoints/train_hashing.sh trains these and the
# notebooks and README tables read them.
SHIPPED_RUNS = [("simnet", 48, "imagenet"), ("catt_net", 48, "imagenet"), ("catt2_net", 48, "imagenet"),
                ("catt3_net", 48, "imagenet"), ("catt3_net", 16, "imagenet"), ("catt3_net", 32, "imagenet"),
                ("catt3_net", 64, "imagenet"), ("catt3_net", 48, "parsing")]
ALL_TASKS = [CATEGORY_TASK, *[t for t in variant_tasks(VARIANTS["catt3_net"]) if t != CATEGORY_TASK]]


@dataclass
class HashingConfig:
    """Everything that defines a hashing run."""

    model: str = "catt3_net"
    bits: int = 48
    backbone: str = "imagenet"   # frozen backbone weights: "imagenet" or "parsing" (effnet_fcn's encoder)
    hidden: int = 512            # width of the trunk (= the float features' length)
    dropout: float = 0.2
    epochs: int = 30
    batch_size: int = 64         # items per step; each gives a consumer and a shop view
    lr: float = 1e-3             # AdamW, poly decay
    weight_decay: float = 1e-4
    margin: float | None = None  # None: DSH's 2 x bits
    alpha: float = DEFAULT_ALPHA
    mu: float = MU
    protocol: str = "instance"   # which ID makes a similar pair (clothlib.data.c2s.PROTOCOLS)
    same_category_push: float | None = 0.5  # x margin for same-category pairs of different IDs; None: left out
    seed: int = 0
    c2s: str | None = None       # consumer-to-shop folder; None: data/c2s
    max_items: int | None = None  # cap on training items (fast mode)

    def __post_init__(self):
        if self.bits not in BITS:
            raise ValueError(f"bits must be one of {BITS}, not {self.bits}")
        if self.model not in VARIANTS:
            raise ValueError(f"unknown hashing model {self.model!r}; choose one of {tuple(VARIANTS)}")

    @property
    def folder(self) -> Path:
        return Path(self.c2s) if self.c2s else c2s.default_folder()

    @property
    def pair_margin(self) -> float:
        return self.margin if self.margin is not None else default_margin(self.bits)

    @property
    def same_category_margin(self) -> float | None:
        return None if self.same_category_push is None else self.same_category_push * self.pair_margin

    @classmethod
    def from_dict(cls, values: dict) -> "HashingConfig":
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in fields})


@dataclass
class SplitData:
    """One split of the consumer-to-shop set as tensors: features (items x variants x dim) of both
    views, the pair IDs and categories, and a target per task (-1 where "n/a")."""

    item_ids: list[str]
    consumer: torch.Tensor
    shop: torch.Tensor
    pair_ids: np.ndarray
    categories: np.ndarray
    targets: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return len(self.item_ids)


def task_targets(rows: list[dict]) -> dict[str, torch.Tensor]:
    """Index of each row's value in :func:`task_values`, -1 for "n/a"."""
    targets = {}
    for task in ALL_TASKS:
        index = {value: i for i, value in enumerate(task_values(task))}
        targets[task] = torch.tensor([index.get(row[task], IGNORED) for row in rows])
    return targets


def load_split_data(config: HashingConfig, split: str, max_items: int | None = None, progress: bool = True,
                    folder: str | os.PathLike | None = None) -> SplitData:
    """Features (cached) and labels of ``split`` of ``folder`` (default: the config's set);
    ``max_items`` keeps the first N items."""
    folder = Path(folder or config.folder)
    features = split_features(folder, split, config.backbone, progress)
    by_id = {row["item_id"]: row for row in c2s.load_manifest(folder)}
    ids = [str(i) for i in features["item_ids"][:max_items]]
    rows = [by_id[i] for i in ids]
    key = c2s.PROTOCOLS[config.protocol]
    return SplitData(ids, torch.from_numpy(features["consumer"][:max_items]), torch.from_numpy(features["shop"][:max_items]),
                     np.array([row[key] for row in rows]), np.array([row["category"] for row in rows]),
                     task_targets(rows))


def make_model(config: HashingConfig, in_features: int) -> HashingNet:
    return HashingNet(config.model, in_features, config.bits, config.hidden, config.dropout)


def _make_step(config: HashingConfig, data: SplitData):
    """The training step: a batch of items -> their consumer and shop views (a random mirror
    variant of each) -> eq. 4 over all pairs of the 2N views + eq. 5 on every view."""
    def step(model: HashingNet, batch):
        (items,) = batch
        variants = data.consumer.shape[1]
        consumer = data.consumer[items, torch.randint(variants, (len(items),))]
        shop = data.shop[items, torch.randint(variants, (len(items),))]
        both = torch.cat([items, items]).numpy()
        out = model(torch.cat([consumer, shop]))
        pairs = dsh_loss(out["codes"], pair_labels(data.pair_ids[both], data.categories[both]),
                         config.pair_margin, config.alpha, config.same_category_margin)
        tasks = multitask_loss(out["logits"], {t: data.targets[t][both] for t in out["logits"]}, config.mu)
        numbers = {f"train_{k}": v.item() for k, v in {**pairs, **tasks}.items() if k != "loss"}
        return pairs["loss"] + tasks["loss"], numbers
    return step


@torch.no_grad()
def forward_views(model: HashingNet, data: SplitData) -> dict:
    """Codes, float features and logits of every item's consumer and shop view (unmirrored)."""
    model.eval()
    return {"consumer": model(data.consumer[:, 0]), "shop": model(data.shop[:, 0])}


def pair_accuracy(query_codes: torch.Tensor, gallery_codes: torch.Tensor, data: SplitData) -> float:
    """Balanced accuracy (%) of "similar iff fewer than bits/4 bits differ" over all (consumer, shop)
    pairs of the split that the pair rule labels (the midpoint between 0 bits for a similar pair
    and the bits/2 the margin asks of a dissimilar one)."""
    bits = query_codes.shape[1]
    hamming = (bits - query_codes.sign() @ gallery_codes.sign().T) / 2
    labels = pair_labels(data.pair_ids, data.categories)
    said_similar = hamming < bits / 4
    similar, dissimilar = labels == SIMILAR, labels != SIMILAR
    dissimilar &= labels != IGNORED
    return percent((said_similar[similar].float().mean() + (~said_similar[dissimilar]).float().mean()) / 2)


def percent(share) -> float:
    """Accuracies are reported in percent, like the paper's tables and the retrieval scores."""
    return round(100 * float(share), 3)


def evaluate_views(model: HashingNet, data: SplitData) -> dict:
    """Pair accuracy, Hamming top-k on the instance protocol (consumer -> shop) and, for each task
    of the model, accuracy on the consumer views (the street-photo side)."""
    out = forward_views(model, data)
    query, gallery = out["consumer"]["codes"], out["shop"]["codes"]
    metrics = {"pair_acc": pair_accuracy(query, gallery, data)}
    retrieval = score_codes(pack_codes(query.numpy() >= 0), pack_codes(gallery.numpy() >= 0), data.item_ids, data.item_ids)
    metrics.update({k: retrieval[k] for k in ("top1", "top20")})
    for task, scores in out["consumer"]["logits"].items():
        target = data.targets[task]
        valid = target >= 0
        metrics[f"{task}_acc"] = percent((scores.argmax(1)[valid] == target[valid]).float().mean()) if valid.any() else None
    return metrics


def train(config: HashingConfig, out: str | os.PathLike, progress: bool = True) -> Path:
    """Train, keeping resumable state in ``<out>.state.pt``; write the released checkpoint ``out``
    and its curve as ``<out stem>.curve.json``."""
    out = Path(out)
    torch.manual_seed(config.seed)
    data = load_split_data(config, "train", config.max_items, progress)
    val = load_split_data(config, "val", config.max_items, progress)
    model = make_model(config, data.consumer.shape[-1])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.arange(len(data))),
                                         batch_size=min(config.batch_size, len(data)), shuffle=True, drop_last=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = poly_schedule(optimizer, config.epochs * len(loader))

    def validate(model):
        return {f"val_{k}": v for k, v in evaluate_views(model, val).items()}

    history = fit(model, optimizer, loader, _make_step(config, data), epochs=config.epochs,
                  state_path=out.with_suffix(".state.pt"), evaluate=validate, scheduler=scheduler,
                  seed=config.seed, meta=dataclasses.asdict(config), desc=f"{config.model} {config.bits} bits")
    engine.release(out, "hashing", model, config=dataclasses.asdict(config), in_features=data.consumer.shape[-1],
                   tasks={task: task_values(task) for task in model.tasks}, c2s_config=c2s.load_meta(config.folder)["config"],
                   history=history)
    with atomic_write(out.with_suffix(".curve.json")) as f:
        json.dump(history, f, indent=1)
    return out


def checkpoint_name(model: str, bits: int, backbone: str = "imagenet") -> str:
    """``hash_catt3_net_48.pt`` (``hash_catt3_net_48_parsing.pt`` on the parsing backbone)."""
    return f"hash_{model}_{bits}{'' if backbone == 'imagenet' else '_' + backbone}.pt"


def load_checkpoint(path: str | os.PathLike) -> tuple[HashingNet, HashingConfig, dict]:
    """Model (eval mode), its config and the whole checkpoint dict (plus its ``path``)."""
    checkpoint = engine.load_release(path, "hashing", TRAIN_COMMAND + f" (see {settings.checkpoint_dir / 'README.md'})")
    config = HashingConfig.from_dict(checkpoint["config"])
    model = make_model(config, checkpoint["in_features"])
    model.load_state_dict(checkpoint["weights"])
    return model.eval(), config, checkpoint


def cache_checkpoint(config: HashingConfig) -> Path:
    """Where a run of ``config`` trains in the cache folder: named by the config's digest, so a
    changed config starts afresh instead of meeting a stale resumable state."""
    digest = hashlib.sha256(json.dumps(dataclasses.asdict(config), sort_keys=True).encode()).hexdigest()[:10]
    name = checkpoint_name(config.model, config.bits, config.backbone)
    return settings.cache_dir / "checkpoints" / f"{name[:-3]}_{digest}.pt"


def load_or_train(config: HashingConfig) -> tuple[HashingNet, HashingConfig, dict]:
    """The shipped ``checkpoints/hash_<model>_<bits>.pt`` if present; otherwise train ``config``
    into the cache folder (never over the shipped checkpoints) and load that."""
    shipped = settings.checkpoint_dir / checkpoint_name(config.model, config.bits, config.backbone)
    if shipped.exists():
        return load_checkpoint(shipped)
    trained = cache_checkpoint(config)
    if not trained.exists():
        print(f"{shipped} not found: training for {config.epochs} epochs into {trained}")
        train(config, trained)
    return load_checkpoint(trained)


def majority_baseline(train_rows: list[dict], test: SplitData) -> dict[str, float]:
    """Accuracy of always answering the training split's most frequent value, per task."""
    result = {}
    for task in ALL_TASKS:
        counts = Counter(row[task] for row in train_rows if row[task] != c2s.NA)
        target = test.targets[task]
        valid = target >= 0
        if not counts or not valid.any():
            result[task] = None
            continue
        majority = task_values(task).index(counts.most_common(1)[0][0])
        result[task] = percent((target[valid] == majority).float().mean())
    return result


def evaluate_checkpoint(path: str | os.PathLike, split: str = "test", progress: bool = True,
                        folder: str | os.PathLike | None = None) -> dict:
    """Metrics of a checkpoint on a split (and the majority baseline of every task). On the set it
    was trained on (``folder`` None) they are written next to it as ``<stem>.<split>.metrics.json``;
    on another set (a fast-mode subset) they are only returned."""
    model, config, _ = load_checkpoint(path)
    data = load_split_data(config, split, progress=progress, folder=folder)
    train_rows = [row for row in c2s.load_manifest(folder or config.folder) if row["split"] == "train"]
    result = {"checkpoint": Path(path).name, "model": config.model, "bits": config.bits, "backbone": config.backbone,
              "split": split, "items": len(data), **evaluate_views(model, data),
              "majority": majority_baseline(train_rows, data), "clothlib": __version__}
    if folder is None:
        with atomic_write(Path(path).with_suffix(f".{split}.metrics.json")) as f:
            json.dump(result, f, indent=1)
    return result


def encode(path: str | os.PathLike, split: str = "test", out: str | os.PathLike | None = None,
           progress: bool = True, folder: str | os.PathLike | None = None) -> Path:
    """Codes of ``split``: consumer views are the queries, shop views the gallery. Writes packed
    codes (np.packbits, big-endian bit order, one row per item), float features, item ids and
    ``export.json``; each file atomically, ``export.json`` last (its presence marks a whole export).
    ``folder``: another consumer-to-shop set than the one the network was trained on."""
    model, config, checkpoint = load_checkpoint(path)
    folder = Path(folder or config.folder)
    out = Path(out or settings.cache_dir / "codes" / f"{folder.name}_{Path(path).stem}_{split}")
    data = load_split_data(config, split, progress=progress, folder=folder)
    views = forward_views(model, data)
    arrays = {}
    for side, view in (("query", "consumer"), ("gallery", "shop")):
        arrays[f"{side}_codes.npy"] = pack_codes(views[view]["codes"].numpy() >= 0)
        arrays[f"{side}_features.npy"] = views[view]["features"].numpy().astype(np.float32)
    for name, array in arrays.items():
        with atomic_write(out / name, "wb") as f:
            np.save(f, array)
    for side in ("query", "gallery"):
        with atomic_write(out / f"{side}_items.txt") as f:
            f.write("\n".join(data.item_ids) + "\n")
    export = {"checkpoint": Path(path).name, "model": config.model, "bits": config.bits, "backbone": config.backbone,
              "split": split, "c2s": str(folder.resolve()), "items": len(data),
              "query": "consumer views", "gallery": "shop views", "clothlib": __version__}
    with atomic_write(out / "export.json") as f:
        json.dump(export, f, indent=1)
    return out
