"""Two-stage search: a Hamming shortlist of the top R gallery items, re-ranked by the float query.

Binary codes make exhaustive search cheap (48 bits = 6 bytes an item, a popcount a comparison) but
lose most of what the float features know: on the consumer-to-shop test split the 48-bit codes
keep about a third of the float features' top-1. Production systems therefore use codes to find
candidates and something finer to order them (eBay's visual search, FAISS's ``IndexRefineFlat``). Two
re-rankers are offered, differing in what the gallery must store:

- ``"asymmetric"``: the query's real-valued hash output (tanh, before the sign) against each
  shortlisted item's +-1 code: ``cosine(q, b)`` with ``b`` unpacked from the stored bits. The
  gallery stores nothing beyond its codes (bits / 8 bytes an item); the query side keeps its
  confidence in every bit, so items at the same Hamming distance are told apart.
- ``"float"``: cosine between the float features (the network's trunk output) of the query and of
  each shortlisted item. The gallery keeps a float32 feature per item too (+ 4 x dim bytes).

**Ranking.** ``search(..., k)`` returns the top ``k`` of one ranking of the whole gallery: the
shortlist re-ranked, then the rest in Hamming order (so mAP over the full ranking is defined).
Ties follow the package's one rule (:mod:`clothlib.retrieval.codes`): which items enter the
shortlist when several tie at the R-th Hamming distance is decided by gallery order, and items
with equal re-rank distances keep gallery order too. The asymmetric distance is a sum of per-byte
table look-ups (as in product-quantisation search), so items with identical codes get
bit-identical distances and the rule holds exactly.

**Choosing R.** :func:`shortlist_scores` scores a list of R values on a (validation) split and
:func:`choose_shortlist` picks the smallest R whose top-20 is within ``SHORTLIST_TOLERANCE``
(0.5 percentage points) of the best: a longer shortlist costs time and memory per query, and
beyond that point buys less than the noise of a ~900-query split.
"""
from __future__ import annotations

import numpy as np

from .codes import rank_rows
from .metrics import TOP_K, relevance, retrieval_scores
from .search import FaissBinary, FloatBruteForce, NumpyHamming

RERANKERS = ("asymmetric", "float")
HAMMING_BACKENDS = {"numpy": NumpyHamming, "faiss": FaissBinary}
SHORTLISTS = (10, 20, 50, 100, 200, 500, 1000)  # R values tried on validation
SHORTLIST_METRIC = "top20"  # the paper's headline figure
SHORTLIST_TOLERANCE = 0.5  # percentage points of SHORTLIST_METRIC given up for a shorter shortlist
RERANK_VALUES = 1 << 22  # shortlisted values (query block x R x dims) gathered at once

_BYTE_SIGNS = np.where(np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="big"), 1.0, -1.0)


class TwoStage:
    """Hamming shortlist (``hamming``: ``"numpy"`` or ``"faiss"``) of ``shortlist`` items, re-ranked
    by ``rerank`` (``"asymmetric"`` or ``"float"``, see the module docstring).

    ``add(gallery_codes, gallery_features=None)`` (features only for ``"float"``), then
    ``search(query_codes, query_floats, k)`` -> ``(distances, indices)``, each ``(Q, k)``: cosine
    distances (``1 - cosine``) for the re-ranked shortlist, NaN past it (items there are in Hamming
    order, never re-scored). ``k`` None or beyond the gallery returns the whole gallery.
    ``query_floats`` are the relaxed codes (hash layer output before the sign, ``(Q, bits)``) for
    ``"asymmetric"``, the float features (``(Q, dims)``) for ``"float"``.
    """

    def __init__(self, shortlist: int = 100, rerank: str = "asymmetric", hamming: str = "numpy"):
        if rerank not in RERANKERS:
            raise ValueError(f"unknown re-ranker {rerank!r}; choose one of {RERANKERS}")
        if hamming not in HAMMING_BACKENDS:
            raise ValueError(f"unknown Hamming backend {hamming!r}; choose one of {tuple(HAMMING_BACKENDS)}")
        if shortlist < 1:
            raise ValueError(f"the shortlist needs at least 1 item, got {shortlist}")
        self.shortlist, self.rerank, self.hamming = shortlist, rerank, hamming
        self.index = HAMMING_BACKENDS[hamming]()
        self.codes: np.ndarray | None = None  # packed, (G, bytes): the asymmetric re-ranker reads them
        self.features: np.ndarray | None = None  # L2-normalised float32, (G, dims): "float" only

    def add(self, gallery_codes: np.ndarray, gallery_features: np.ndarray | None = None) -> TwoStage:
        codes = np.ascontiguousarray(gallery_codes, dtype=np.uint8)
        if self.rerank == "float":
            if gallery_features is None or len(gallery_features) != len(codes):
                raise ValueError("the float re-ranker needs one float feature per gallery code: "
                                 "add(gallery_codes, gallery_features)")
            features = FloatBruteForce.normalise(gallery_features)
            self.features = features if self.features is None else np.concatenate([self.features, features])
        elif gallery_features is not None:
            raise ValueError("the asymmetric re-ranker reads only the gallery's codes; pass no features "
                             "(or use rerank='float')")
        self.index.add(codes)
        # NumpyHamming keeps the codes as an array already; FAISS keeps them inside its index
        self.codes = (self.index.codes if isinstance(self.index, NumpyHamming)
                      else codes if self.codes is None else np.concatenate([self.codes, codes]))
        return self

    def __len__(self) -> int:
        return len(self.index)

    @property
    def bytes_per_item(self) -> int:
        """What the gallery must store per item: its packed code (bits / 8 bytes, rounded up), plus a
        float32 feature (4 x dims bytes) for the float re-ranker. (A FAISS index holds its own copy
        of the codes, padded to whole 8-byte words: see :class:`~clothlib.retrieval.search.FaissBinary`.)"""
        if not len(self):
            return 0
        return int(self.codes.shape[1] + (0 if self.features is None else 4 * self.features.shape[1]))

    @property
    def nbytes(self) -> int:
        """Bytes this object holds: the codes, the features, and the FAISS index's copy of the codes."""
        held = sum(array.nbytes for array in (self.codes, self.features) if array is not None)
        return held + (self.index.nbytes if isinstance(self.index, FaissBinary) else 0)

    def search(self, query_codes: np.ndarray, query_floats: np.ndarray, k: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Cosine distances (float64, NaN past the shortlist) and gallery indices, ``(Q, k)``."""
        if not len(self):
            raise ValueError("the gallery is empty: call add(gallery) before search")
        query_codes = np.ascontiguousarray(query_codes, dtype=np.uint8)
        query_floats = self._check_floats(np.asarray(query_floats, dtype=np.float64), len(query_codes))
        gallery = len(self)
        k = gallery if k is None else min(k, gallery)
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        shortlist = min(self.shortlist, gallery)
        depth = max(k, shortlist)  # the shortlist is the first R of the Hamming top `depth`
        block = max(1, RERANK_VALUES // (shortlist * query_floats.shape[1]))
        distances = np.full((len(query_codes), k), np.nan)
        indices = np.empty((len(query_codes), k), dtype=np.int64)
        for start in range(0, len(query_codes), block):
            rows = slice(start, start + block)
            _, hamming = self.index.search(query_codes[rows], depth)
            candidates = np.sort(hamming[:, :shortlist], axis=1)  # gallery order: rank_rows breaks ties by it
            scores = self._distances(query_floats[rows], candidates)
            order = rank_rows(scores)
            ranked = np.concatenate([np.take_along_axis(candidates, order, axis=1), hamming[:, shortlist:]], axis=1)
            indices[rows] = ranked[:, :k]
            distances[rows, :min(k, shortlist)] = np.take_along_axis(scores, order, axis=1)[:, :k]
        return distances, indices

    def ranking_distances(self, query_codes: np.ndarray, query_floats: np.ndarray) -> np.ndarray:
        """``(Q, G)`` distances that order the gallery as :meth:`search` does: each shortlisted item
        its re-rank distance (within [0, 2]), every other item 2 + its place after the shortlist, so
        it stays behind the shortlist in Hamming order with no ties. Fed to
        :func:`~clothlib.retrieval.ties.tie_aware_scores` this measures what ties among re-rank
        distances are worth, for the shortlist the tie rule admitted."""
        distances, indices = self.search(query_codes, query_floats)
        past = np.isnan(distances)
        distances[past] = 2 + np.cumsum(past, axis=1)[past]
        full = np.empty_like(distances)
        np.put_along_axis(full, indices, distances, axis=1)
        return full

    def _check_floats(self, query_floats: np.ndarray, queries: int) -> np.ndarray:
        if query_floats.ndim != 2 or len(query_floats) != queries:
            raise ValueError(f"expected one float row per query code ({queries}); got shape {query_floats.shape}")
        if self.rerank == "float" and query_floats.shape[1] != self.features.shape[1]:
            raise ValueError(f"query features have {query_floats.shape[1]} dims, the gallery's "
                             f"{self.features.shape[1]}: the float re-ranker compares the same network's features")
        if self.rerank == "asymmetric" and -(-query_floats.shape[1] // 8) != self.codes.shape[1]:
            raise ValueError(f"the asymmetric re-ranker needs the query's relaxed code, one value per bit; got "
                             f"{query_floats.shape[1]} values for {self.codes.shape[1]}-byte codes")
        return query_floats

    def _distances(self, query_floats: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """``(B, R)`` cosine distances between each query and its candidates."""
        if self.rerank == "float":
            queries = FloatBruteForce.normalise(query_floats)
            return 1 - np.einsum("bd,brd->br", queries, self.features[candidates], dtype=np.float64)
        # query . (+-1 code) as a sum of per-byte look-ups: table[b, byte, value] = the dot product of
        # the query's 8 values for that byte with the byte's 8 signs (padding bits weigh 0)
        nbytes = self.codes.shape[1]
        padded = np.zeros((len(query_floats), 8 * nbytes))
        padded[:, :query_floats.shape[1]] = query_floats
        table = padded.reshape(len(padded), nbytes, 8) @ _BYTE_SIGNS.T  # (B, bytes, 256)
        codes = self.codes[candidates]  # (B, R, bytes)
        dots = np.zeros(candidates.shape)
        for byte in range(nbytes):
            dots += np.take_along_axis(table[:, byte], codes[:, :, byte].astype(np.intp), axis=1)
        norms = np.linalg.norm(query_floats, axis=1, keepdims=True) * np.sqrt(query_floats.shape[1])
        return 1 - dots / np.maximum(norms, np.finfo(np.float64).tiny)


def shortlist_scores(query_codes: np.ndarray, query_floats: np.ndarray, gallery_codes: np.ndarray,
                     gallery_features: np.ndarray | None, query_ids, gallery_ids, rerank: str = "asymmetric",
                     shortlists=SHORTLISTS, hamming: str = "numpy", ks=TOP_K) -> dict[int, dict]:
    """``{R: retrieval_scores}`` of the two-stage ranking of the whole gallery for each R in
    ``shortlists`` (relevant = same id). R at or beyond the gallery size re-ranks everything."""
    relevant = relevance(query_ids, gallery_ids)
    scores = {}
    for shortlist in shortlists:
        search = TwoStage(shortlist, rerank, hamming).add(gallery_codes, gallery_features)
        scores[shortlist] = retrieval_scores(search.search(query_codes, query_floats)[1], relevant, ks)
    return scores


def choose_shortlist(scores: dict[int, dict], metric: str = SHORTLIST_METRIC,
                     tolerance: float = SHORTLIST_TOLERANCE) -> int:
    """The smallest R whose ``metric`` (percent) is within ``tolerance`` points of the best R's."""
    if not scores:
        raise ValueError("no shortlist lengths were scored")
    best = max(result[metric] for result in scores.values())
    return min(shortlist for shortlist, result in scores.items() if result[metric] >= best - tolerance)
