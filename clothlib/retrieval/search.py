"""Exhaustive search backends with one interface, :class:`SearchBackend`: ``add(gallery)``, then
``search(queries, k)`` returns ``(distances, indices)``, each ``(Q, k)``, nearest first; ``len()`` and
``nbytes`` say how many items it holds and in how many bytes. Each backend subclasses the protocol, so
one missing a method cannot be made, and two-stage search, the pipeline and the benchmarks take any.

Every backend follows the tie policy of :mod:`clothlib.retrieval.codes` (equal distances in
gallery order), so on the same codes :class:`NumpyHamming` and :class:`FaissBinary` return the
same indices, ties included, and :class:`FloatBruteForce` on +-1 vectors ranks exactly like
them (cosine = 1 - 2 d / bits). ``k`` larger than the gallery returns the whole gallery.
"""
from __future__ import annotations

from abc import abstractmethod
from typing import Protocol, runtime_checkable

import numpy as np

from .codes import as_words, hamming_distances, rank_rows

BLOCK_SCORES = 1 << 26  # query x gallery scores held at once (256 MiB of int32 or float32): 64 queries of
# a million-item gallery per matrix product, so float brute force reads its 2 GB once per 64 queries


@runtime_checkable
class SearchBackend(Protocol):
    """An exhaustive index: what a gallery is searched through. ``isinstance`` checks a duck-typed one."""

    @abstractmethod
    def add(self, gallery: np.ndarray) -> SearchBackend:
        """Append gallery rows (packed codes, or float features for the float backend); returns itself."""

    @abstractmethod
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(distances, indices)`` of each query's ``k`` nearest gallery items (the whole gallery when
        ``k`` is larger), nearest first, equal distances in gallery order (:func:`~.codes.rank_rows`)."""

    @abstractmethod
    def __len__(self) -> int:
        """Gallery items held."""

    @property
    @abstractmethod
    def nbytes(self) -> int:
        """Bytes the gallery takes in the index."""


def _import_faiss():
    try:
        import faiss
    except ImportError as err:
        raise ImportError("FaissBinary needs FAISS: `pip install faiss-cpu` "
                          "(or `conda install -c conda-forge faiss-cpu`).") from err
    return faiss


def _append(stored: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
    return rows if stored is None else np.concatenate([stored, rows])


def _search_blocks(score, queries: np.ndarray, gallery_size: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rank ``score(query block)`` (``(B, G)``, smaller is nearer) a block of queries at a time, so
    at most ``BLOCK_SCORES`` scores are in memory whatever the gallery size."""
    if not gallery_size:
        raise ValueError("the gallery is empty: call add(gallery) before search")
    k = min(k, gallery_size)
    block = max(1, BLOCK_SCORES // gallery_size)
    distances, indices = [], []
    for start in range(0, len(queries), block):
        scores = score(queries[start:start + block])
        ranked = rank_rows(scores, k)
        indices.append(ranked)
        distances.append(np.take_along_axis(scores, ranked, axis=1))
    return np.concatenate(distances), np.concatenate(indices)


class NumpyHamming(SearchBackend):
    """Hamming distances by XOR and popcount of uint64 words, in NumPy."""

    def __init__(self):
        self.codes: np.ndarray | None = None

    def add(self, gallery_packed: np.ndarray) -> NumpyHamming:
        self.codes = _append(self.codes, np.ascontiguousarray(gallery_packed, dtype=np.uint8))
        return self

    def __len__(self) -> int:
        return 0 if self.codes is None else len(self.codes)

    @property
    def nbytes(self) -> int:
        return 0 if self.codes is None else self.codes.nbytes

    def search(self, queries_packed: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Hamming distances (int32) and gallery indices."""
        return _search_blocks(lambda block: hamming_distances(block, self.codes), queries_packed, len(self), k)


class FaissBinary(SearchBackend):
    """FAISS ``IndexBinaryFlat``: the same exhaustive Hamming scan in C++ (SIMD popcount).

    Codes are padded with zero bytes to whole 8-byte words, as :func:`~clothlib.retrieval.codes.as_words`
    pads them for NumPy: padding bits are zero on both sides, so no distance changes, but FAISS has
    specialised popcount kernels for a few code sizes (8, 16, 32, 64 bytes among them) and a generic
    one for the rest, which scans a 48-bit code's 6 bytes about three times slower than 8 bytes
    (measured by ``benchmarks/two_stage_speed.py``). The index holds ``8 * ceil(bits / 64)`` bytes an item.

    FAISS promises the k smallest distances but neither the order of equal distances nor which of
    several items tied at the k-th distance are returned (faiss 1.15's heap happens to prefer
    lower ids, an implementation detail). So we ask for k + 1 neighbours: where the (k+1)-th is
    farther than the k-th, FAISS's k are the only possible top k and only their order is fixed
    here; otherwise every item within the k-th distance is fetched with ``range_search`` (whose
    radius is exclusive) and the ties are cut by gallery index.
    """

    def __init__(self):
        self.faiss = _import_faiss()
        self.index = None
        self.code_bytes: int | None = None  # bytes of a packed code as given, before padding

    def _padded(self, packed: np.ndarray, side: str) -> np.ndarray:
        """``packed`` (uint8, one row per item) padded with zero bytes to whole 8-byte words."""
        packed = np.asarray(packed, dtype=np.uint8)
        if self.code_bytes is not None and packed.ndim == 2 and packed.shape[1] != self.code_bytes:
            raise ValueError(f"{side} codes have {packed.shape[1]} bytes but the gallery's {self.code_bytes}: "
                             "were they made with the same number of bits?")
        return as_words(packed).view(np.uint8)

    def add(self, gallery_packed: np.ndarray) -> FaissBinary:
        gallery = self._padded(gallery_packed, "gallery")
        if self.index is None:
            self.code_bytes = np.asarray(gallery_packed).shape[1]
            self.index = self.faiss.IndexBinaryFlat(8 * gallery.shape[1])
        self.index.add(gallery)
        return self

    def __len__(self) -> int:
        return 0 if self.index is None else self.index.ntotal

    @property
    def nbytes(self) -> int:
        """Bytes the index holds: the padded codes."""
        return 0 if self.index is None else self.index.ntotal * self.index.code_size

    def search(self, queries_packed: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Hamming distances (int32) and gallery indices."""
        if not len(self):
            raise ValueError("the gallery is empty: call add(gallery) before search")
        queries = self._padded(queries_packed, "query")
        k = min(k, len(self))
        wide = min(k + 1, len(self))
        found_distances, found_indices = self.index.search(queries, wide)
        distances = np.empty((len(queries), k), dtype=np.int32)
        indices = np.empty((len(queries), k), dtype=np.int64)
        kth = found_distances[:, k - 1]
        settled = (found_distances[:, -1] > kth) | (wide == k)
        for row in np.flatnonzero(settled):
            distances[row], indices[row] = _first_k(found_distances[row, :k], found_indices[row, :k], k)
        for radius in np.unique(kth[~settled]):
            rows = np.flatnonzero(~settled & (kth == radius))
            limits, near_distances, near_indices = self.index.range_search(queries[rows], int(radius) + 1)
            for row, start, stop in zip(rows, limits[:-1], limits[1:]):
                distances[row], indices[row] = _first_k(near_distances[start:stop], near_indices[start:stop], k)
        return distances, indices


def _first_k(distances: np.ndarray, indices: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``k`` of (distance, index) pairs sorted by distance, then index."""
    order = np.lexsort((indices, distances))[:k]
    return distances[order], indices[order]


class FloatBruteForce(SearchBackend):
    """Cosine similarity between L2-normalised float32 features, as one matrix product per block
    of queries; distances are ``1 - cosine``. The float reference the hash codes are compared to."""

    def __init__(self):
        self.features: np.ndarray | None = None

    @staticmethod
    def normalise(features: np.ndarray) -> np.ndarray:
        features = np.array(features, dtype=np.float32)
        features /= np.maximum(np.linalg.norm(features, axis=1, keepdims=True), np.finfo(np.float32).tiny)
        return features

    def add(self, gallery_features: np.ndarray) -> FloatBruteForce:
        self.features = _append(self.features, self.normalise(gallery_features))
        return self

    def __len__(self) -> int:
        return 0 if self.features is None else len(self.features)

    @property
    def nbytes(self) -> int:
        return 0 if self.features is None else self.features.nbytes

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Cosine distances (float32, ``1 - cosine``) and gallery indices."""
        negative_cosine, indices = _search_blocks(lambda block: -(block @ self.features.T),
                                                  self.normalise(queries), len(self), k)
        return 1 + negative_cosine, indices
