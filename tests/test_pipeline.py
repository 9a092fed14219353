"""ClothingRetriever: input handling, and a real photo through parsing, CRF, crops, codes and search."""
from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
from PIL import Image

from clothlib import settings
from clothlib.data import c2s, read_photo
from clothlib.data.splits import load_split
from clothlib.hashing import HashingConfig, features, train
from clothlib.pipeline import ClothingRetriever, evaluate_end_to_end, load_image


def test_load_image_converts_gray_and_rgba_and_rejects_non_images(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    assert load_image(rgb[..., 0]).shape == (20, 30, 3)
    rgba = np.concatenate([rgb, np.full((20, 30, 1), 7, np.uint8)], axis=2)
    assert np.array_equal(load_image(rgba), rgb)
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="PNG")
    assert np.array_equal(load_image(buffer.getvalue()), rgb)
    Image.fromarray(rgb[..., 0]).save(tmp_path / "gray.png")
    assert load_image(tmp_path / "gray.png").shape == (20, 30, 3)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    with pytest.raises(ValueError, match="broken.jpg is not a readable image"):
        load_image(tmp_path / "broken.jpg")
    with pytest.raises(ValueError, match="uploaded file is not a readable image"):
        load_image(b"text")
    with pytest.raises(ValueError, match="shape"):
        load_image(np.zeros((4, 4, 2), np.uint8))


@pytest.fixture(scope="module")
def retriever(small_set, tmp_path_factory):
    if not (settings.checkpoint_dir / "effnet_fcn.pt").exists():
        pytest.skip("needs the shipped parsing checkpoint")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(features, "settings", dataclasses.replace(features.settings, cache_dir=small_set[1]))
        checkpoint = train(HashingConfig(model="catt3_net", bits=16, epochs=1, batch_size=8, c2s=str(small_set[0])),
                           tmp_path_factory.mktemp("hash") / "tiny.pt", progress=False)
        yield ClothingRetriever.from_checkpoints(hashing=checkpoint, progress=False)


def test_a_test_photo_goes_all_the_way(retriever):
    photo_id = load_split("test")[0]
    photo = read_photo(photo_id)
    results = retriever.retrieve(photo, k=5)
    assert results and set(retriever.timings) == {"parsing", "crf", "crops", "encode", "search"}
    gallery = set(retriever.gallery_ids)
    for garment, matches in results:
        assert garment.category in c2s.ATTRIBUTE_VALUES["category"]
        assert garment.view.shape == (c2s.VIEW_SIZE, c2s.VIEW_SIZE, 3) and garment.mask.shape == photo.shape[:2]
        assert len(matches) == min(5, len(gallery)) and all(m.item_id in gallery and m.shop_view.exists() for m in matches)
        assert [m.distance for m in matches] == sorted(m.distance for m in matches)
    # the same garments as cutting the class map by hand with the builder's rules
    labels = retriever.parse(photo)
    assert [g.category for g, _ in results] == list(c2s.garment_regions(labels))


def test_end_to_end_scores_count_missed_classes_as_misses(retriever):
    result = evaluate_end_to_end(retriever, crf=False, max_photos=2, progress=False)
    tops = [result[f"top{k}"] for k in (1, 5, 10, 20, 50, 100)]
    assert tops == sorted(tops) and 0 <= result["coverage"] <= 100 and result["found"] <= result["items"]
    assert tops[-1] <= result["coverage"], "an item whose class is missed can never be found"
