"""The whole course in one object: a street photo in, garments and their shop matches out.

``ClothingRetriever.from_checkpoints()`` loads the parsing network, its tuned dense CRF, the frozen
backbone and a hashing network, and encodes a gallery of shop views once. Then
``parse(image)`` -> class map, ``garments(image)`` -> one consumer view per garment found (cut exactly
as the consumer-to-shop builder cuts them from ground truth), ``retrieve(image, k)`` -> each garment's
k nearest shop items by Hamming distance. Every call records how long each stage took.

Photos come as they are (:mod:`clothlib.data.photos`: paths, bytes, file objects, ``PIL`` images,
arrays; EXIF orientation applied) and are worked on at CCP's resolution, ``WORKING_SIDE``: a
24-megapixel phone photo is parsed in the time of a CCP photo, and what is found (boxes, class map,
masks) is given in the photo's own pixels.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import devices
from .config import settings
from .data import garments
from .data.photos import MAX_PIXELS, load_downscaled
from .hashing import load_checkpoint as load_hashing_checkpoint
from .hashing.config import DEFAULT_NETWORK
from .hashing.features import Backbone, split_features
from .parsing import load_checkpoint as load_parsing_checkpoint
from .parsing import predict_scores
from .parsing.config import DEFAULT_PARSER_FILE
from .parsing.crf import refine
from .parsing.crf_search import tuned_crf_params
from .retrieval import NumpyHamming, binarize, pack_codes

# The working resolution: a photo whose longest side is over WORKING_SIDE is scaled down to it before
# parsing. CCP's photos are 550 wide and 786-877 tall, so every one of them is still parsed at its own
# size (the course's results stand), and a larger photo is brought to CCP's scale: the dense CRF's
# kernel widths are in pixels, tuned on CCP photos, and its cost grows with the pixel count (a
# 24-megapixel photo took 227 s at full size and found nothing). A 3:4 portrait then has 658 x 878 =
# 1.26 x a CCP photo's pixels; no photo has more than 878 x 878 = 1.7 x. Why 878 and not a round 880:
# pydensecrf's lattice hash degrades ~500-fold at a few exact sizes, and 880 puts a CCP-shaped photo
# at 880 x 582 (CRF at half scale: 440 x 291, 12 s instead of 0.4 s); 878 keeps CCP's shapes and the
# common camera aspect ratios clear of them (tests/test_pipeline.py times them).
WORKING_SIDE = 878


@dataclass
class Garment:
    """One garment found in a photo: its class, box (x0, y0, x1, y1, end-exclusive) in the photo's own
    pixels and consumer view. ``working_mask`` is its mask at the working resolution (the photo's own
    size unless the photo is larger than ``WORKING_SIDE``); ``mask`` is the same at the photo's size."""

    category: str
    box: tuple[int, int, int, int]
    view: np.ndarray = field(repr=False)
    working_mask: np.ndarray = field(repr=False)
    photo_shape: tuple[int, int]

    @property
    def mask(self) -> np.ndarray:
        return _resize_labels(self.working_mask.astype(np.uint8), self.photo_shape).astype(bool)


@dataclass
class Match:
    item_id: str
    distance: int
    shop_view: Path


def _resize_labels(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A uint8 label map at ``shape`` (height, width), nearest neighbour (labels are not blended)."""
    if labels.shape == tuple(shape):
        return labels
    return np.array(Image.fromarray(labels).resize((shape[1], shape[0]), Image.Resampling.NEAREST))


def _photo_box(box: tuple[int, int, int, int], working: tuple[int, int], shape: tuple[int, int]
               ) -> tuple[int, int, int, int]:
    """A working-resolution box in the photo's pixels: the smallest box covering the same area."""
    sy, sx = shape[0] / working[0], shape[1] / working[1]
    x0, y0, x1, y1 = box
    return (int(x0 * sx), int(y0 * sy), min(shape[1], math.ceil(x1 * sx)), min(shape[0], math.ceil(y1 * sy)))


class ClothingRetriever:
    """Parsing network (+ dense CRF) -> garment crops -> backbone -> hash codes -> Hamming search."""

    def __init__(self, parser, parser_config, crf_params, hasher, hasher_config, gallery_ids: list[str],
                 gallery_codes: np.ndarray, folder: Path, max_pixels: int = MAX_PIXELS):
        self.parser, self.parser_config, self.crf_params = parser, parser_config, crf_params
        self.hasher, self.hasher_config = hasher, hasher_config
        self.backbone = Backbone(hasher_config.backbone)
        self.folder = Path(folder)
        self.gallery_ids = list(gallery_ids)
        self.search = NumpyHamming().add(gallery_codes)
        self.max_pixels = max_pixels
        self.timings: dict[str, float] = {}

    @classmethod
    def from_checkpoints(cls, parsing: str | os.PathLike | None = None, hashing: str | os.PathLike | None = None,
                         gallery_splits: tuple[str, ...] = ("test",), folder: str | os.PathLike | None = None,
                         progress: bool = True, max_pixels: int = MAX_PIXELS) -> ClothingRetriever:
        """The shipped checkpoints (or others) and a gallery of the shop views of ``gallery_splits``
        of the consumer-to-shop set in ``folder`` (default: the set the checkpoint was trained on).
        Photos over ``max_pixels`` pixels are refused with a ``ValueError``."""
        parsing = parsing or settings.checkpoint_dir / DEFAULT_PARSER_FILE
        parser, parser_config, checkpoint = load_parsing_checkpoint(parsing)
        hasher, hasher_config, _ = load_hashing_checkpoint(hashing or settings.checkpoint_dir / f"{DEFAULT_NETWORK}.pt")
        folder = Path(folder or hasher_config.folder)
        ids, views = [], []
        for split in gallery_splits:
            cached = split_features(folder, split, hasher_config.backbone, progress)
            ids += [str(i) for i in cached["item_ids"]]
            views.append(cached["shop"][:, 0])
        with torch.no_grad():
            codes = hasher.eval().codes(torch.from_numpy(np.concatenate(views)))
        return cls(parser, parser_config, tuned_crf_params(checkpoint["path"]), hasher, hasher_config, ids,
                   codes, folder, max_pixels)

    def _timed(self, stage: str, started: float) -> None:
        self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - started

    def _load(self, image) -> tuple[np.ndarray, tuple[int, int]]:
        """The photo at the working resolution, and its own (height, width)."""
        started = time.perf_counter()
        loaded = load_downscaled(image, WORKING_SIDE, self.max_pixels)
        self._timed("load", started)
        return loaded

    def _labels(self, working: np.ndarray, crf: bool) -> np.ndarray:
        """The class map of a working-resolution photo. The network sees it ``eval_height`` tall (as
        in training and evaluation), or smaller when that would take more pixels than an
        ``eval_height``-square input: a panorama must not cost ten CCP photos."""
        height, width = working.shape[:2]
        eval_height = self.parser_config.eval_height
        if eval_height and width > height:
            eval_height = max(1, round(eval_height * math.sqrt(height / width)))
        started = time.perf_counter()
        probs = predict_scores(self.parser, working, eval_height).numpy()
        self._timed("parsing", started)
        if not crf:
            return probs.argmax(0).astype(np.uint8)
        started = time.perf_counter()
        labels = refine(working, probs, self.crf_params)
        self._timed("crf", started)
        return labels

    def parse(self, image, crf: bool = True) -> np.ndarray:
        """H x W uint8 class map (``clothlib.data.CLASSES``) at the photo's own size (upright)."""
        working, shape = self._load(image)
        return _resize_labels(self._labels(working, crf), shape)

    def garments(self, image, crf: bool = True, labels: np.ndarray | None = None) -> list[Garment]:
        """The garments of a photo (from ``labels``, its class map at its own size, if given, else
        parsed), each cut into a consumer view by the same rules as the consumer-to-shop set. Regions
        and views come from the working-resolution photo, so a phone photo gives the views the same
        photo at CCP size would; boxes are in the photo's own pixels."""
        working, shape = self._load(image)
        if labels is None:
            labels = self._labels(working, crf)
        elif labels.shape != tuple(shape):
            raise ValueError(f"labels are {labels.shape[0]} x {labels.shape[1]}, the photo {shape[0]} x {shape[1]}: "
                             "pass the class map parse() returned for this photo")
        else:
            labels = _resize_labels(labels, working.shape[:2])
        started = time.perf_counter()
        found = []
        for category, mask in garments.garment_regions(labels).items():
            box = garments.box_of(mask)
            found.append(Garment(category, _photo_box(box, working.shape[:2], shape),
                                 garments.consumer_view(working, box), mask, shape))
        self._timed("crops", started)
        return found

    def encode(self, views: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Packed codes and float features of consumer views."""
        started = time.perf_counter()
        with torch.no_grad():
            features = self.backbone(torch.from_numpy(np.stack(views)).to(devices.of(self.backbone)))
            out = devices.to_cpu(self.hasher.eval()(features.to(devices.of(self.hasher))))
        self._timed("encode", started)
        return pack_codes(binarize(out["codes"].numpy())), out["features"].numpy()

    def search_codes(self, codes: np.ndarray, k: int = 10) -> list[list[Match]]:
        """The k nearest gallery items of each packed code (ties in gallery order)."""
        started = time.perf_counter()
        distances, indices = self.search.search(codes, k)
        self._timed("search", started)
        return [[Match(self.gallery_ids[i], int(d), self.folder / "shop" / f"{self.gallery_ids[i]}.jpg")
                 for d, i in zip(row_d, row_i)] for row_d, row_i in zip(distances, indices)]

    def retrieve(self, image, k: int = 10, crf: bool = True) -> list[tuple[Garment, list[Match]]]:
        """Each garment of the photo with its k nearest shop items; ``timings`` says where the time
        went (load: reading the photo and bringing it to the working resolution)."""
        self.timings = {}
        found = self.garments(image, crf)
        if not found:
            return []
        codes, _ = self.encode([garment.view for garment in found])
        return list(zip(found, self.search_codes(codes, k)))

