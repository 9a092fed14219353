"""The whole course in one object: a street photo in, garments and their shop matches out.

``ClothingRetriever.from_checkpoints()`` loads the parsing network, its tuned dense CRF, the frozen
backbone and a hashing network, and encodes a gallery of shop views once. Then
``parse(image)`` -> class map, ``garments(image)`` -> one consumer view per garment found (cut exactly
as the consumer-to-shop builder cuts them from ground truth), ``retrieve(image, k)`` -> each garment's
k nearest shop items by Hamming distance. Every call records how long each stage took.
"""
from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .config import progress_bar, settings
from .data import c2s
from .data.ccp import read_photo
from .hashing import load_checkpoint as load_hashing_checkpoint
from .hashing.features import Backbone, split_features
from .parsing import load_checkpoint as load_parsing_checkpoint
from .parsing import predict_scores
from .parsing.crf import refine
from .parsing.crf_search import tuned_crf_params
from .retrieval import TOP_K, NumpyHamming, pack_codes

PARSING_CHECKPOINT = "effnet_fcn.pt"
HASHING_CHECKPOINT = "hash_catt3_net_48.pt"


def load_image(source) -> np.ndarray:
    """An RGB uint8 array from a path, bytes or an array: grayscale and RGBA are converted, and a
    file that is not an image raises a ValueError saying so."""
    if isinstance(source, np.ndarray):
        image = source
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] not in (3, 4):
            raise ValueError(f"expected an H x W, H x W x 3 or H x W x 4 image, got shape {image.shape}")
        return np.ascontiguousarray(image[..., :3].astype(np.uint8))
    name = "the uploaded file" if isinstance(source, (bytes, bytearray)) else str(source)
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"{name} is not a readable image (JPEG or PNG expected): {err}") from err


@dataclass
class Garment:
    """One garment found in a photo: its class, box (x0, y0, x1, y1), mask and consumer view."""

    category: str
    box: tuple[int, int, int, int]
    mask: np.ndarray = field(repr=False)
    view: np.ndarray = field(repr=False)


@dataclass
class Match:
    item_id: str
    distance: int
    shop_view: Path


class ClothingRetriever:
    """Parsing network (+ dense CRF) -> garment crops -> backbone -> hash codes -> Hamming search."""

    def __init__(self, parser, parser_config, crf_params, hasher, hasher_config, gallery_ids: list[str],
                 gallery_codes: np.ndarray, folder: Path):
        self.parser, self.parser_config, self.crf_params = parser, parser_config, crf_params
        self.hasher, self.hasher_config = hasher, hasher_config
        self.backbone = Backbone(hasher_config.backbone)
        self.folder = Path(folder)
        self.gallery_ids = list(gallery_ids)
        self.search = NumpyHamming().add(gallery_codes)
        self.timings: dict[str, float] = {}

    @classmethod
    def from_checkpoints(cls, parsing: str | os.PathLike | None = None, hashing: str | os.PathLike | None = None,
                         gallery_splits: tuple[str, ...] = ("test",), folder: str | os.PathLike | None = None,
                         progress: bool = True) -> "ClothingRetriever":
        """The shipped checkpoints (or others) and a gallery of the shop views of ``gallery_splits``
        of the consumer-to-shop set in ``folder`` (default: the set the checkpoint was trained on)."""
        parser, parser_config, checkpoint = load_parsing_checkpoint(parsing or settings.checkpoint_dir / PARSING_CHECKPOINT)
        hasher, hasher_config, _ = load_hashing_checkpoint(hashing or settings.checkpoint_dir / HASHING_CHECKPOINT)
        folder = Path(folder or hasher_config.folder)
        ids, views = [], []
        for split in gallery_splits:
            cached = split_features(folder, split, hasher_config.backbone, progress)
            ids += [str(i) for i in cached["item_ids"]]
            views.append(cached["shop"][:, 0])
        with torch.no_grad():
            codes = hasher.eval()(torch.from_numpy(np.concatenate(views)))["codes"].numpy()
        return cls(parser, parser_config, tuned_crf_params(checkpoint["path"]), hasher, hasher_config, ids,
                   pack_codes(codes >= 0), folder)

    def _timed(self, stage: str, started: float) -> None:
        self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - started

    def parse(self, image, crf: bool = True) -> np.ndarray:
        """H x W uint8 class map (``clothlib.data.CLASSES``) at the photo's own size."""
        image = load_image(image)
        started = time.perf_counter()
        probs = predict_scores(self.parser, image, self.parser_config.eval_height).numpy()
        self._timed("parsing", started)
        if not crf:
            return probs.argmax(0).astype(np.uint8)
        started = time.perf_counter()
        labels = refine(image, probs, self.crf_params)
        self._timed("crf", started)
        return labels

    def garments(self, image, crf: bool = True, labels: np.ndarray | None = None) -> list[Garment]:
        """The garments of a photo (from ``labels`` if given, else from :meth:`parse`), each cut
        into a consumer view by the same rules as the consumer-to-shop set."""
        image = load_image(image)
        labels = self.parse(image, crf) if labels is None else labels
        started = time.perf_counter()
        found = []
        for category, mask in c2s.garment_regions(labels).items():
            box = c2s.box_of(mask)
            found.append(Garment(category, box, mask, c2s.consumer_view(image, box)))
        self._timed("crops", started)
        return found

    def encode(self, views: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Packed codes and float features of consumer views."""
        started = time.perf_counter()
        with torch.no_grad():
            out = self.hasher.eval()(self.backbone(torch.from_numpy(np.stack(views))))
        self._timed("encode", started)
        return pack_codes(out["codes"].numpy() >= 0), out["features"].numpy()

    def search_codes(self, codes: np.ndarray, k: int = 10) -> list[list[Match]]:
        """The k nearest gallery items of each packed code (ties in gallery order)."""
        started = time.perf_counter()
        distances, indices = self.search.search(codes, k)
        self._timed("search", started)
        return [[Match(self.gallery_ids[i], int(d), self.folder / "shop" / f"{self.gallery_ids[i]}.jpg")
                 for d, i in zip(row_d, row_i)] for row_d, row_i in zip(distances, indices)]

    def retrieve(self, image, k: int = 10, crf: bool = True) -> list[tuple[Garment, list[Match]]]:
        """Each garment of the photo with its k nearest shop items; ``timings`` says where the time went."""
        self.timings = {}
        image = load_image(image)
        found = self.garments(image, crf)
        if not found:
            return []
        codes, _ = self.encode([garment.view for garment in found])
        return list(zip(found, self.search_codes(codes, k)))


def evaluate_end_to_end(retriever: ClothingRetriever, split: str = "test", crf: bool = True,
                        ks=TOP_K, max_photos: int | None = None, progress: bool = True) -> dict:
    """Top-k of queries cut from *predicted* masks: for every ground-truth item of ``split`` in
    ``retriever.folder``, the garment of the same class in the parsed photo is the query and the
    item's own shop view the answer. An item whose class the parser misses counts as not found."""
    items = [row for row in c2s.load_manifest(retriever.folder) if row["split"] == split and row["source"] == "gt"]
    by_photo: dict[str, list[dict]] = {}
    for row in items:
        by_photo.setdefault(row["photo_id"], []).append(row)
    photos = sorted(by_photo)[:max_photos]
    gallery_index = {item: i for i, item in enumerate(retriever.gallery_ids)}
    ranks, found = [], 0
    for photo_id in progress_bar(photos, progress, desc=f"end to end ({'FCN-CRF' if crf else 'FCN'})"):
        image = read_photo(photo_id)
        garments = {g.category: g for g in retriever.garments(image, crf)}
        queries = [(row, garments[row["category"]]) for row in by_photo[photo_id] if row["category"] in garments]
        ranks += [None] * (len(by_photo[photo_id]) - len(queries))
        if not queries:
            continue
        found += len(queries)
        codes, _ = retriever.encode([garment.view for _, garment in queries])
        full = retriever.search.search(codes, len(retriever.gallery_ids))[1]
        for (row, _), ranking in zip(queries, full):
            ranks.append(int(np.flatnonzero(ranking == gallery_index[row["item_id"]])[0]))
    total = len(ranks)
    result = {f"top{k}": round(100 * sum(r is not None and r < k for r in ranks) / total, 3) for k in ks}
    return {**result, "items": total, "found": found, "coverage": round(100 * found / total, 3),
            "photos": len(photos), "crf": crf}
