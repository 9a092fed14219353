"""ClothingRetriever: a real photo through parsing, CRF, crops, codes and search, and photos as they
come (issue 17's table: huge and narrow arrays, PIL images, float arrays, decompression bombs, EXIF
orientation). The loader's own rules are tested in test_photos.py."""
from __future__ import annotations

import dataclasses
import io
import json
import time

import numpy as np
import pytest
import torch
from PIL import Image

from clothlib import settings
from clothlib.data import garments, read_photo
from clothlib.data.attributes import ATTRIBUTE_VALUES
from clothlib.data.splits import load_split
from clothlib.endtoend import __main__ as endtoend_command
from clothlib.endtoend import evaluate_end_to_end
from clothlib.hashing import HashingConfig, features, train
from clothlib.parsing import CRFParams, crf_search
from clothlib.pipeline import WORKING_SIDE, ClothingRetriever


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
    assert results and set(retriever.timings) == {"load", "parsing", "crf", "crops", "encode", "search"}
    gallery = set(retriever.gallery_ids)
    for garment, matches in results:
        assert garment.category in ATTRIBUTE_VALUES["category"]
        assert garment.view.shape == (VIEW, VIEW, 3) and garment.mask.shape == photo.shape[:2]
        assert len(matches) == min(5, len(gallery))
        assert all(m.item_id in gallery and m.shop_view.exists() for m in matches)
        assert [m.distance for m in matches] == sorted(m.distance for m in matches)
    # the same garments as cutting the class map by hand with the builder's rules
    labels = retriever.parse(photo)
    assert [g.category for g, _ in results] == list(garments.garment_regions(labels))


def test_the_crf_kernel_is_the_validation_searchs_choice_not_the_checkpoints(retriever):
    """DESIGN.md: the kernel lives in ``<stem>.crf.json`` (its ``best``), read by tuned_crf_params
    alone; the parsing checkpoint carries no CRF parameters that could disagree with it."""
    shipped = settings.checkpoint_dir / "effnet_fcn.pt"
    search = json.loads(crf_search.crf_file(shipped).read_text())
    assert retriever.crf_params == CRFParams.from_dict(search["best"])
    assert not any("crf" in key for key in torch.load(shipped, map_location="cpu", weights_only=True))


def test_end_to_end_scores_count_missed_classes_as_misses(retriever):
    result = evaluate_end_to_end(retriever, crf=False, max_photos=2, progress=False)
    tops = [result[f"top{k}"] for k in (1, 5, 10, 20, 50, 100)]
    assert tops == sorted(tops) and 0 <= result["coverage"] <= 100 and result["found"] <= result["items"]
    assert tops[-1] <= result["coverage"], "an item whose class is missed can never be found"


def test_end_to_end_command_checks_its_output_first_then_saves_what_the_library_returns(tmp_path, monkeypatch,
                                                                                        capsys):
    monkeypatch.setattr(endtoend_command, "evaluate_parsers", lambda hashing: pytest.fail("ran before --out"))
    with pytest.raises(SystemExit):
        endtoend_command.main(["--out", str(tmp_path)])  # a folder, not a file
    assert "is a folder" in capsys.readouterr().err
    scores = {"top1": 1.0, "top10": 2.0, "top20": 3.0, "coverage": 90.0}
    result = {"hashing": "catt3_net", "bits": 16, "gallery": 5, "fcn": scores, "fcn_crf": scores}
    monkeypatch.setattr(endtoend_command, "evaluate_parsers", lambda hashing: result)
    endtoend_command.main(["--out", str(tmp_path / "end_to_end.test.json")])
    assert json.loads((tmp_path / "end_to_end.test.json").read_text()) == result


# --- photos as they come --------------------------------------------------------------------------

VIEW = garments.DEFAULT_GARMENTS.view_size
PHOTO_ID = "0027"  # its phone copy lost the dress when JPEGs were decoded at 1/4 scale, just over the working size


def upscaled(photo: np.ndarray, long_side: int) -> Image.Image:
    scale = long_side / max(photo.shape[:2])
    return Image.fromarray(photo).resize((round(photo.shape[1] * scale), round(photo.shape[0] * scale)),
                                         Image.Resampling.BICUBIC)


def phone_jpeg(photo: np.ndarray) -> bytes:
    """The photo as a phone stores a 4000-px portrait: turned to landscape, with EXIF orientation 6."""
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    upscaled(photo, 4000).transpose(Image.Transpose.ROTATE_90).save(buffer, format="JPEG", quality=90, exif=exif)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def reference(retriever):
    """The CCP photo's garments, (category, box) in order, with the photo brought to the working size
    first: every larger photo is parsed there, and the dense CRF's kernels are in pixels, so a photo
    parsed at its own 829 px would be compared with a differently smoothed parse (a small garment's
    box moves by several pixels between the two)."""
    photo = np.asarray(upscaled(read_photo(PHOTO_ID), WORKING_SIDE))
    return photo, [(g.category, g.box) for g, _ in retriever.retrieve(photo, k=5)]


@pytest.fixture
def sizes(retriever, monkeypatch):
    """The image sizes the network and the CRF are given, recorded as they run."""
    from clothlib import pipeline

    seen = {"network": [], "crf": []}
    real_scores, real_refine = pipeline.predict_scores, pipeline.refine

    def scores(model, photo, eval_height):
        height, width = photo.shape[:2]
        seen["network"].append((eval_height, round(width * eval_height / height)))
        return real_scores(model, photo, eval_height)

    def refine(image, probs, params):
        seen["crf"].append(image.shape[:2])
        return real_refine(image, probs, params)

    monkeypatch.setattr(pipeline, "predict_scores", scores)
    monkeypatch.setattr(pipeline, "refine", refine)
    return seen


def assert_same_garments(found, reference, scale):
    """The same classes in the same order, each box (in the reference's pixels) overlapping the
    reference's by an intersection over union of at least 0.7."""
    assert [g.category for g in found] == [category for category, _ in reference]
    for garment, (_, box) in zip(found, reference):
        mapped = np.array(garment.box) / scale
        inter = np.prod(np.clip(np.minimum(mapped[2:], box[2:]) - np.maximum(mapped[:2], box[:2]), 0, None))
        union = np.prod(mapped[2:] - mapped[:2]) + np.prod(np.subtract(box[2:], box[:2])) - inter
        assert inter / union >= 0.7, (garment.category, garment.box, box)


def test_an_exif_rotated_phone_photo_finds_the_ccp_size_photos_garments(retriever, reference, sizes, tmp_path):
    photo, expected = reference
    (tmp_path / "phone.jpg").write_bytes(phone_jpeg(photo))
    results = retriever.retrieve(tmp_path / "phone.jpg", k=5)
    found = [garment for garment, _ in results]
    upright = (4000, round(photo.shape[1] * 4000 / photo.shape[0]))
    assert all(g.photo_shape == upright for g in found), "boxes are in the upright photo's pixels"
    assert_same_garments(found, expected, 4000 / photo.shape[0])
    assert found[0].mask.shape == upright and found[0].working_mask.shape[0] == WORKING_SIDE
    assert sizes["crf"] == [(WORKING_SIDE, round(photo.shape[1] * WORKING_SIDE / photo.shape[0]))], \
        "the CRF runs at the working size, not on 10 megapixels"
    assert set(retriever.timings) == {"load", "parsing", "crf", "crops", "encode", "search"}


def test_a_24_megapixel_array_is_parsed_at_working_size_and_finds_the_same_garments(retriever, reference, sizes):
    photo, expected = reference
    huge = np.asarray(upscaled(photo, 6000))  # the 6000 x 4000 row: 227 s and no garment before
    assert huge.shape[0] * huge.shape[1] > 23_000_000
    found = [garment for garment, _ in retriever.retrieve(huge, k=5)]
    assert_same_garments(found, expected, 6000 / photo.shape[0])
    assert max(sizes["crf"][0]) == WORKING_SIDE


def test_long_narrow_photos_cost_no_more_than_a_square_one(retriever, sizes):
    photo = read_photo(PHOTO_ID)
    strip = np.ascontiguousarray(np.tile(photo[:300], (1, 8, 1)))  # 300 x 4400 panorama
    assert retriever.parse(strip).shape == strip.shape[:2], "the class map comes back at the photo's own size"
    retriever.parse(np.ascontiguousarray(strip.transpose(1, 0, 2)))  # 4400 x 300: the 22.8-second row
    eval_height = retriever.parser_config.eval_height
    assert all(h * w <= eval_height ** 2 for h, w in sizes["network"]), sizes["network"]
    assert all(max(shape) <= WORKING_SIDE for shape in sizes["crf"]), sizes["crf"]


def test_pil_images_float_arrays_and_file_objects_give_the_arrays_class_map(retriever):
    photo = read_photo(PHOTO_ID)
    expected = retriever.parse(photo, crf=False)
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="PNG")
    with Image.open(io.BytesIO(buffer.getvalue())) as image:  # raised AttributeError before
        assert np.array_equal(retriever.parse(image, crf=False), expected)
    assert np.array_equal(retriever.parse(photo / 255.0, crf=False), expected), "was cast to a black image"
    assert np.array_equal(retriever.parse(io.BytesIO(buffer.getvalue()), crf=False), expected)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        retriever.parse(photo.astype(np.float32))


def test_oversized_and_mismatched_inputs_are_clear_errors(retriever):
    from test_photos import png_header

    with pytest.raises(ValueError, match="over the limit of 120,000,000 pixels") as caught:
        retriever.retrieve(png_header(30000, 30000))
    assert not isinstance(caught.value, Image.DecompressionBombError)
    photo = read_photo(PHOTO_ID)
    with pytest.raises(ValueError, match="pass the class map parse"):
        retriever.garments(photo, labels=np.zeros((10, 10), np.uint8))


@pytest.mark.parametrize("aspect", [(831, 550), (877, 550), (786, 550), (4, 3), (3, 4), (16, 9), (9, 16), (1, 1)])
def test_the_crf_has_no_slow_size_at_the_working_resolution(retriever, aspect):
    """pydensecrf's lattice hash is ~500 times slower at a few exact sizes (440 x 291 at the CRF's
    half scale: 12 s, not 0.02 s); the working size must not land CCP's or a camera's shape on one."""
    from clothlib.parsing.crf import dense_crf

    def seconds(height, width):
        probs = np.full((2, height, width), 0.5, np.float32)
        started = time.perf_counter()
        dense_crf(np.zeros((height, width, 3), np.uint8), probs, retriever.crf_params)
        return time.perf_counter() - started

    scale = WORKING_SIDE / max(aspect)
    working = round(aspect[0] * scale), round(aspect[1] * scale)
    assert seconds(*working) <= max(1.0, 10 * seconds(831, 550)), working
