"""The pair protocol of the consumer-to-shop set (paper §3.1): which items share an ID, and the
label of a (consumer view, shop view) pair.

Two protocols, two IDs per item: under ``instance`` an item is its own ID (the same garment of the
same photo); under ``similar`` items of one category, fine category and dominant colour share one.
The builder (:mod:`clothlib.data.c2s`) writes both IDs into the manifest; hashing's pair sampling
and losses, and retrieval's scoring, read them through :data:`PROTOCOLS`.
"""
from __future__ import annotations

from collections import Counter

PROTOCOLS = {"instance": "instance_id", "similar": "similar_id"}


def pair_label(item_a: dict, item_b: dict, protocol: str) -> int | None:
    """The paper's pair label: 0 (similar) for the same ID, 1 (dissimilar) for different IDs of
    different categories, and None for different IDs of the same category.

    The paper defines only the first two; we leave the third out of pair sampling rather than
    calling it dissimilar: two blue jeans from different photos (instance protocol), or jeans and
    pants of one colour (similar-item protocol), are often alike, and a contrastive loss that pushes
    them apart teaches the codes noise.
    """
    key = PROTOCOLS[protocol]
    if item_a[key] == item_b[key]:
        return 0
    if item_a["category"] != item_b["category"]:
        return 1
    return None


def pair_counts(items: list[dict], protocol: str) -> dict[str, int]:
    """Similar / dissimilar / ambiguous (None) counts over all (consumer view, shop view) pairs of
    ``items`` (N x N ordered pairs, an item with itself included), counted from group sizes."""
    key = PROTOCOLS[protocol]
    similar = sum(n * n for n in Counter(item[key] for item in items).values())
    same_category = sum(n * n for n in Counter(item["category"] for item in items).values())
    return {"similar": similar, "dissimilar": len(items) ** 2 - same_category, "ambiguous": same_category - similar}


def similar_id(item: dict) -> str:
    """The similar-item group: category, fine category and dominant colour (category first, so a
    pseudo-labelled item's "n/a" fine category never joins another class's group)."""
    return f"{item['category']}|{item['fine_category']}|{item['colour']}"
