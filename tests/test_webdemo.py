"""The demo page's answers, without a browser (tests/browser/test_demo_app.py drives the real page):
an uploaded CCP photo gives garments, matches and timings; a phone photo is answered in its upright
size; every bad upload is a message naming the file, never an exception."""
from __future__ import annotations

import base64
import dataclasses
import datetime
import io
import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from clothlib import settings, webdemo
from clothlib.config import REPO_DIR, display_path
from clothlib.data import read_photo
from clothlib.data.splits import load_split
from clothlib.hashing import features
from clothlib.pipeline import WORKING_SIDE, ClothingRetriever

STAGES = {"load", "parsing", "crf", "crops", "encode", "search"}


class Untouchable:
    """A retriever for uploads that must be refused before any parsing."""

    def retrieve(self, *args, **kwargs):
        raise AssertionError("a refused upload must not reach the pipeline")


class Broken:
    """A retriever with a bug: the page must say so, not raise."""

    def retrieve(self, *args, **kwargs):
        raise RuntimeError("lattice exploded")


@pytest.fixture(scope="module")
def retriever(small_set):
    if not (settings.checkpoint_dir / "effnet_fcn.pt").exists():
        pytest.skip("needs the shipped parsing checkpoint")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(features, "settings", dataclasses.replace(features.settings, cache_dir=small_set[1]))
        yield ClothingRetriever.from_checkpoints(folder=small_set[0], progress=False)


def jpeg(pixels: np.ndarray, **save) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90, **save)
    return buffer.getvalue()


def data_uris(fragment: str) -> list[bytes]:
    return [base64.b64decode(found) for found in re.findall(r'src="data:image/jpeg;base64,([^"]+)"', fragment)]


def test_a_ccp_photo_gets_garments_matches_and_timings(retriever):
    photo = read_photo(load_split("test")[0])
    result = webdemo.answer(retriever, "street.jpg", jpeg(photo), k=3)
    assert result.error is None and result.results
    assert set(result.timings) == STAGES and all(t >= 0 for t in result.timings.values())
    assert result.size == photo.shape[:2] and result.photo.shape == photo.shape
    for garment, matches in result.results:
        x0, y0, x1, y1 = garment.box
        assert 0 <= x0 < x1 <= photo.shape[1] and 0 <= y0 < y1 <= photo.shape[0]
        assert len(matches) == 3
    fragment = webdemo.summary_html(result)
    assert 'class="clothlib-matches"' in fragment and "clothlib-error" not in fragment
    # the parsed photo, then per garment its view and three shop views, all decodable JPEGs
    images = data_uris(fragment)
    assert len(images) == 1 + 4 * len(result.results)
    parsed = Image.open(io.BytesIO(images[0]))
    assert parsed.height == webdemo.PHOTO_HEIGHT
    for match in result.results[0][1]:
        assert f"{match.item_id}<br>d={match.distance}" in fragment
    timings = webdemo.timings_html(result.timings)
    assert all(stage in timings for stage in STAGES) and "total" in timings


def test_a_phone_photo_is_answered_upright_at_the_working_resolution(retriever):
    photo = read_photo(load_split("test")[0])
    big = np.asarray(Image.fromarray(photo).resize((photo.shape[1] * 3, photo.shape[0] * 3)))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side, "rotate 90 degrees clockwise to view"
    stored = jpeg(np.ascontiguousarray(np.rot90(big)), exif=exif)
    result = webdemo.answer(retriever, "phone.jpg", stored, k=2)
    assert result.error is None
    assert result.size == big.shape[:2], "the upright size, not the stored one"
    assert max(result.photo.shape[:2]) <= WORKING_SIDE and result.photo.shape[0] > result.photo.shape[1]


@pytest.mark.parametrize("content, limits, expected", [
    (b"", {}, "photo.jpg is empty (0 bytes)"),
    (b"GIF? no: plain text", {}, "photo.jpg is not a readable image (JPEG or PNG expected)"),
    (b"\xff\xd8\xff" + b"0" * 1_500_000, {"max_bytes": 10**6}, "photo.jpg is 1.5 MB, over the demo's limit of 1 MB"),
    (None, {"max_pixels": 10_000}, "photo.jpg is 200 x 100 = 20,000 pixels, over the limit of 10,000 pixels"),
])
def test_bad_uploads_are_messages_naming_the_file(content, limits, expected):
    if content is None:
        content = jpeg(np.zeros((100, 200, 3), np.uint8))
    result = webdemo.answer(Untouchable(), "photo.jpg", content, **limits)
    assert result.error.startswith(expected), result.error
    assert "object at 0x" not in result.error and "max_pixels" not in result.error, "only what a person can act on"
    fragment = webdemo.summary_html(result)
    assert 'class="clothlib-error"' in fragment and "clothlib-matches" not in fragment


def test_a_truncated_jpeg_is_a_message():
    content = jpeg(np.full((300, 200, 3), 120, np.uint8))[:400]
    result = webdemo.answer(Untouchable(), "cut.jpg", content)
    assert result.error and "cut.jpg" in result.error


class Empty:
    """A retriever that finds no garment."""

    def __init__(self):
        self.timings = {}

    def retrieve(self, image, k):
        self.timings = {"load": 0.0, "parsing": 0.1, "crf": 0.1, "crops": 0.0}
        return []


def test_no_garment_found_says_what_to_try():
    result = webdemo.answer(Empty(), "wall.jpg", jpeg(np.full((300, 200, 3), 200, np.uint8)))
    assert result.error is None and result.results == []
    fragment = webdemo.summary_html(result)
    assert "No garment found" in fragment and "<img" not in fragment


def upload_value(name: str, content: bytes) -> tuple:
    """What ipywidgets 8's FileUpload holds after a file is chosen in the browser."""
    return ({"name": name, "type": "image/jpeg", "size": len(content), "content": memoryview(content),
             "last_modified": datetime.datetime.now(datetime.timezone.utc)},)


def test_the_page_answers_an_upload_and_clears_it(retriever):
    box = webdemo.page(retriever, k=2)
    upload, shown, timings = box.children
    upload.value = upload_value("street.jpg", jpeg(read_photo(load_split("test")[1])))
    assert 'class="clothlib-matches"' in shown.value
    assert "page" in timings.value and "parsing" in timings.value
    assert upload.value == (), "cleared, so the same file uploaded again is answered again"


def test_the_page_shows_errors_not_tracebacks():
    box = webdemo.page(Broken())
    upload, shown, timings = box.children
    upload.value = upload_value("street.jpg", jpeg(np.zeros((100, 80, 3), np.uint8)))
    assert "clothlib-error" in shown.value and "RuntimeError: lattice exploded" in shown.value
    assert timings.value == ""
    upload.value = upload_value("notes.txt", b"hello")
    assert "notes.txt is not a readable image" in shown.value


def test_upload_content_reads_ipywidgets_8_values():
    assert webdemo.upload_content(()) == ("", b"")
    assert webdemo.upload_content(upload_value("a.png", b"\x89PNG")) == ("a.png", b"\x89PNG")


def test_the_gallery_note_says_what_the_gallery_is(retriever):
    note = webdemo.gallery_note(retriever)
    assert f"{len(retriever.gallery_ids):,} test items" in note and display_path(retriever.folder) in note
    assert "not a real shop" in note and "course_set()" in note


def test_the_gallery_note_names_no_folder_of_the_serving_machine():
    """The page is read by people on other machines: the cache folder is shown from the repository."""
    folder = REPO_DIR / "data" / "cache" / "c2s_course"
    retriever = SimpleNamespace(gallery_ids=["1"], folder=folder, hasher_config=SimpleNamespace(bits=48, model="m"))
    note = webdemo.gallery_note(retriever)
    assert "`data/cache/c2s_course`" in note and str(REPO_DIR) not in note


def test_the_demo_server_accepts_the_largest_upload_the_page_takes():
    """An upload travels to the kernel as one websocket message: a server limit under the page's own
    limit would drop the connection instead of answering "too large"."""
    config = json.loads((Path(__file__).resolve().parents[1] / "app" / "voila.json").read_text())
    assert config["Voila"]["tornado_settings"]["websocket_max_message_size"] == webdemo.SERVER_MESSAGE_BYTES
    assert webdemo.SERVER_MESSAGE_BYTES > webdemo.MAX_UPLOAD_BYTES * 1.01
    assert config["Voila"]["ip"] == "127.0.0.1", "the demo listens on this machine only unless asked"
    # Voilà runs the page's cells with nbclient, whose wait for a reply can miss ZeroMQ's wake-up and
    # then lasts until the cell's timeout (book/execute.py): unbounded by default, a page that never loads
    assert 0 < config["VoilaExecutor"]["timeout"] <= 300
