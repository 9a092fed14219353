"""Binary hash codes: from float outputs to packed bits, and Hamming distances between them.

A code of ``bits`` bits is stored packed, eight bits a byte, most significant bit first
(``np.packbits(..., bitorder="big")``), one row per item: 64 bits take 8 bytes where a 512-d float
feature takes 2,048. Distances XOR the codes as 64-bit words and count the set bits
(``np.bitwise_count``), so a word costs two operations whatever the code length within it.

**Tie policy.** Hamming distances are small integers, so many gallery items share a distance
and a ranking has to say which comes first. Everywhere in :mod:`clothlib.retrieval` ties are
broken by gallery order (the lower gallery index first): :func:`rank_rows` is the one place that
orders, and every search backend returns what it would.
"""
from __future__ import annotations

import numpy as np

WORD_BYTES = 8  # codes are compared as uint64 words
CHUNK_WORDS = 1 << 22  # XOR words held at once (32 MiB): a million-item gallery is never expanded whole


def binarize(features: np.ndarray) -> np.ndarray:
    """Bit ``j`` is set where ``features[:, j] >= 0``: the sign of a hashing layer's output."""
    return np.asarray(features) >= 0


def pack_codes(bits: np.ndarray) -> np.ndarray:
    """``(N, bits)`` booleans -> ``(N, ceil(bits / 8))`` uint8, most significant bit first, the last
    byte padded with zero bits (which never change a distance: both sides pad alike)."""
    bits = np.asarray(bits, dtype=bool)
    if bits.ndim != 2:
        raise ValueError(f"expected one row of bits per item, an (N, bits) array; got shape {bits.shape}")
    return np.packbits(bits, axis=1, bitorder="big")


def unpack_codes(packed: np.ndarray, bits: int) -> np.ndarray:
    """The inverse of :func:`pack_codes`: ``(N, bits)`` booleans (the padding bits dropped)."""
    return np.unpackbits(np.asarray(packed, dtype=np.uint8), axis=1, count=bits, bitorder="big").astype(bool)


def as_words(packed: np.ndarray) -> np.ndarray:
    """Packed codes as ``(N, words)`` uint64, each row padded with zero bytes to whole words."""
    packed = np.asarray(packed, dtype=np.uint8)
    if packed.ndim != 2:
        raise ValueError(f"expected packed codes, one row per item (N, bytes); got shape {packed.shape}")
    padding = -packed.shape[1] % WORD_BYTES
    if padding:
        packed = np.pad(packed, ((0, 0), (0, padding)))
    return np.ascontiguousarray(packed).view(np.uint64)


def hamming_distances(query_packed: np.ndarray, gallery_packed: np.ndarray) -> np.ndarray:
    """``(Q, G)`` int32 Hamming distances between packed codes, the gallery taken in chunks of at
    most ``CHUNK_WORDS`` XOR words."""
    queries, gallery = as_words(query_packed), as_words(gallery_packed)
    if queries.shape[1] != gallery.shape[1]:
        raise ValueError(f"query codes have {query_packed.shape[1]} bytes but gallery codes "
                         f"{gallery_packed.shape[1]}: were they made with the same number of bits?")
    distances = np.empty((len(queries), len(gallery)), dtype=np.int32)
    step = max(1, CHUNK_WORDS // max(1, queries.size))
    for start in range(0, len(gallery), step):
        xor = queries[:, None, :] ^ gallery[None, start:start + step, :]
        distances[:, start:start + step] = np.bitwise_count(xor).sum(axis=2, dtype=np.int32)
    return distances


def rank_rows(values: np.ndarray, k: int | None = None) -> np.ndarray:
    """Column indices of each row's ``k`` smallest values (all columns when ``k`` is None), smallest
    first, ties broken by column index: the module's tie policy.

    The k-th smallest value is found by partitioning; every column at or below it is a candidate,
    and candidates are sorted by (value, column), so which of several tied items make the top k
    is decided by the policy too, not by the partition.
    """
    values = np.asarray(values)
    if k is None or k >= values.shape[1]:
        return np.argsort(values, axis=1, kind="stable")[:, :k]
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    kth = np.partition(values, k - 1, axis=1)[:, k - 1:k]
    rows, columns = np.nonzero(values <= kth)
    order = np.lexsort((columns, values[rows, columns], rows))
    rows, columns = rows[order], columns[order]
    starts = np.searchsorted(rows, np.arange(len(values)))
    return columns[starts[:, None] + np.arange(k)]


def hamming_rank(query_packed: np.ndarray, gallery_packed: np.ndarray, k: int | None = None) -> np.ndarray:
    """``(Q, k)`` gallery indices ranked by (Hamming distance, gallery index); the whole gallery
    when ``k`` is None."""
    return rank_rows(hamming_distances(query_packed, gallery_packed), k)


def codes_to_hex(packed: np.ndarray) -> list[str]:
    """Each row of packed codes as a hex string (``"a1ff03..."``): how results files keep codes."""
    return [row.tobytes().hex() for row in np.asarray(packed, dtype=np.uint8)]


def codes_from_hex(rows: list[str]) -> np.ndarray:
    """The inverse of :func:`codes_to_hex`: ``(N, bytes)`` uint8 packed codes."""
    return np.array([list(bytes.fromhex(row)) for row in rows], dtype=np.uint8)
