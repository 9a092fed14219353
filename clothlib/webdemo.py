"""The demo as a web page (``app/demo.ipynb``, served by Voilà: ``make demo``): a photo uploaded, its
garments and each one's shop matches shown, with the stage timings.

What the page shows for an upload is computed here, apart from the browser, so every answer it can
give is tested without one (``tests/test_webdemo.py``); the browser test (``tests/browser/``) then
checks that the page really shows them. A bad upload (empty, too large, not an image) is an
:class:`Answer` with a message that says what is wrong and what to do, never a traceback: a person
at a web page cannot read one, and cannot fix the code that raised it.
"""
from __future__ import annotations

import base64
import html
import io
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .config import display_path, settings
from .data import c2s
from .data.classes import CLASSES
from .data.photos import MAX_PIXELS, load_downscaled
from .pipeline import WORKING_SIDE, ClothingRetriever, Garment, Match
from .viz import overlay, palette

# The largest upload the page takes: a 108-megapixel phone JPEG is about 30 MB. The file reaches the
# kernel as one websocket message, so the server must accept messages larger than this: app/voila.json
# raises Jupyter's 10 MiB default to SERVER_MESSAGE_BYTES (a test keeps the two in step); a file over
# *that* limit cannot be answered at all.
MAX_UPLOAD_BYTES = 40_000_000
SERVER_MESSAGE_BYTES = 100 * 1024 * 1024
MATCHES = 5  # shop matches shown per garment
PHOTO_HEIGHT = 400  # the parsed photo's height on the page, in pixels


@dataclass
class Answer:
    """What the page shows for one upload: ``error`` when the upload is refused (then nothing
    else is set), else the garments with their matches. ``photo`` is the photo at the working
    resolution (what was parsed; ``results``' boxes are in its pixels), ``size`` the upright size
    (height, width) it was uploaded at, ``timings`` seconds per stage."""

    name: str
    error: str | None = None
    photo: np.ndarray | None = field(default=None, repr=False)
    size: tuple[int, int] | None = None
    results: list[tuple[Garment, list[Match]]] = field(default_factory=list, repr=False)
    timings: dict[str, float] = field(default_factory=dict)


def load_retriever(progress: bool = True) -> ClothingRetriever:
    """The shipped checkpoints with the course's consumer-to-shop set as the shop gallery (built on
    first use: see :func:`gallery_note`)."""
    return ClothingRetriever.from_checkpoints(folder=c2s.course_set(progress), progress=progress)


def gallery_note(retriever: ClothingRetriever) -> str:
    """What the shop gallery is, in Markdown: a person must not take it for a real shop."""
    size = settings.pick(f"the first {settings.fast_photos} annotated CCP photos (fast mode: "
                         "`CLOTHLIB_FAST=1`)", "every annotated CCP photo")
    return (f"**The shop gallery** is not a real shop: it holds the *shop views* of the "
            f"{len(retriever.gallery_ids):,} test items of the course's consumer-to-shop set "
            f"(`{display_path(retriever.folder)}`, built from {size} by `clothlib.data.c2s.course_set()`, "
            "notebook 04). "
            "A shop view is one garment cut out of a CCP street photo by its mask and set on white with "
            "catalogue-like changes (white balance, scale, a small rotation, a mirror). Upload a CCP test "
            "photo and its own garments are in the gallery; upload a photo of your own and you see the "
            "nearest of these garments by Hamming distance between "
            f"{retriever.hasher_config.bits}-bit codes ({retriever.hasher_config.model}).")


def upload_content(value) -> tuple[str, bytes]:
    """``(file name, bytes)`` from an ``ipywidgets.FileUpload`` value (ipywidgets 8: a tuple of
    dicts with ``name`` and ``content``, a memoryview); ``("", b"")`` when nothing was uploaded."""
    if not value:
        return "", b""
    first = value[0]
    return str(first.get("name", "upload")), bytes(first["content"])


def answer(retriever: ClothingRetriever, name: str, content: bytes, k: int = MATCHES,
           max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_PIXELS) -> Answer:
    """The page's answer to one uploaded file: its garments and their ``k`` nearest shop items, or
    the reason it was refused. The photo is read by :mod:`clothlib.data.photos` (EXIF orientation
    applied; a JPEG decoded straight at the working resolution) and parsed at ``WORKING_SIDE``, as
    ``ClothingRetriever`` parses any photo."""
    if not content:
        return Answer(name, error=f"{name or 'The upload'} is empty (0 bytes): choose a JPEG or PNG photo.")
    if len(content) > max_bytes:
        return Answer(name, error=f"{name} is {len(content) / 1e6:.1f} MB, over the demo's limit of "
                                  f"{max_bytes / 1e6:.0f} MB: upload a smaller photo (scale it down or save it "
                                  "as a JPEG).")
    started = time.perf_counter()
    try:
        photo, size = load_downscaled(content, WORKING_SIDE, max_pixels)
    except ValueError as err:
        # the message names the upload and drops what only a programmer can act on (Pillow's object
        # repr, the max_pixels argument)
        message = str(err).replace("the uploaded file", name).replace(" or a larger max_pixels", "")
        return Answer(name, error=re.sub(r": cannot identify image file <[^>]*>", "", message))
    loaded = time.perf_counter() - started
    results = retriever.retrieve(photo, k=k)
    timings = {"load": loaded + retriever.timings.pop("load", 0.0), **retriever.timings}
    return Answer(name, photo=photo, size=size, results=results, timings=timings)


def _data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def _jpeg(pixels: np.ndarray, height: int | None = None) -> bytes:
    image = Image.fromarray(pixels)
    if height and image.height > height:
        image = image.resize((round(image.width * height / image.height), height), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def parsed_photo(result: Answer, height: int = PHOTO_HEIGHT) -> bytes:
    """The photo with its garments coloured (``viz.overlay``, the course's palette) and boxed, as a
    JPEG ``height`` pixels tall. Only the garments are coloured: the pipeline keeps their masks, not
    skin, hair or background."""
    colours = palette(len(CLASSES))
    labels = np.zeros(result.photo.shape[:2], np.uint8)
    for garment, _ in result.results:
        labels[garment.working_mask] = CLASSES.index(garment.category)
    image = Image.fromarray(overlay(result.photo, labels, colours, alpha=0.45))
    draw = ImageDraw.Draw(image)
    for garment, _ in result.results:
        x0, y0, x1, y1 = garment.box
        colour = tuple(int(c) for c in colours[CLASSES.index(garment.category)])
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=colour, width=3)
    return _jpeg(np.asarray(image), height)


def summary_html(result: Answer) -> str:
    """The answer as one HTML fragment: the refusal, or the parsed photo and one row per garment (its
    consumer view, then its shop views nearest first with their Hamming distances d); the stage
    timings are apart (:func:`timings_html`), as the page's own time is known only after this.
    Images travel inside the page (data URIs): no file server is needed. The CSS classes
    (``clothlib-error``, ``clothlib-matches``) are what the browser test reads."""
    if result.error:
        return f'<div class="clothlib-error" style="color:#a00"><b>Could not use this upload.</b> ' \
               f"{html.escape(result.error)}</div>"
    height, width = result.size
    parts = [f"<p><b>{html.escape(result.name)}</b>: {width} x {height} pixels, parsed at "
             f"{result.photo.shape[1]} x {result.photo.shape[0]}; {len(result.results)} garment(s) found.</p>"]
    if not result.results:
        parts.append('<p class="clothlib-matches">No garment found: no garment class covers enough of the photo. '
                     "The parser learnt from full-body street photos (CCP): try a photo of a person standing, "
                     "head to feet.</p>")
    else:
        rows, colours = [], palette(len(CLASSES))
        for garment, matches in result.results:
            colour = "#" + bytes(colours[CLASSES.index(garment.category)]).hex()  # as in the parsed photo
            cells = [f'<td><img src="{_data_uri(_jpeg(garment.view))}" width="96" alt="{garment.category}"><br>'
                     f'<b style="border-left:12px solid {colour};padding-left:4px">{garment.category}</b></td>']
            cells += [f'<td><img src="{_data_uri(Path(m.shop_view).read_bytes())}" width="96" alt="{m.item_id}">'
                      f"<br>{m.item_id}<br>d={m.distance}</td>" for m in matches]
            rows.append(f"<tr>{''.join(cells)}</tr>")
        parts.append(f'<div style="display:flex;gap:16px;align-items:flex-start">'
                     f'<img src="{_data_uri(parsed_photo(result))}" alt="the parsed photo">'
                     f'<table class="clothlib-matches" style="font-size:11px;text-align:center">'
                     f"<tr><th>garment</th><th colspan=\"{len(result.results[0][1])}\">shop matches, nearest first "
                     f"(d: Hamming distance)</th></tr>{''.join(rows)}</table></div>")
    return "\n".join(parts)


def timings_html(timings: dict[str, float]) -> str:
    """Seconds per stage and their total, as an HTML table (class ``clothlib-timings``)."""
    cells = "".join(f"<td>{stage}<br>{seconds:.2f} s</td>" for stage, seconds in timings.items())
    return (f'<table class="clothlib-timings"><tr><td>seconds per stage</td>{cells}'
            f"<td><b>total<br>{sum(timings.values()):.2f} s</b></td></tr></table>")


def page(retriever: ClothingRetriever, k: int = MATCHES):
    """The page's widgets: an upload button, the answer and its timings (HTML), ``page`` in the
    timings being the time to build the answer's HTML, images included."""
    import ipywidgets as widgets

    upload = widgets.FileUpload(accept="image/*", multiple=False, description="upload a photo")
    shown = widgets.HTML("Choose a JPEG or PNG photo of a person (a phone photo as it is works).")
    timings = widgets.HTML()

    def on_upload(change):
        if not change["new"]:  # the upload cleared below
            return
        name, content = upload_content(change["new"])
        shown.value, timings.value = f"Working on {html.escape(name)} …", ""
        try:
            result = answer(retriever, name, content, k)
            started = time.perf_counter()
            shown.value = summary_html(result)
            if not result.error:
                timings.value = timings_html({**result.timings, "page": time.perf_counter() - started})
        except Exception as err:  # the page says what broke, instead of a traceback nobody at the page sees
            shown.value = summary_html(Answer(name, error=f"the demo failed on this photo ({type(err).__name__}: "
                                                          f"{err}). Please report it with the photo."))
        upload.value = ()  # so that uploading the same file again answers again

    upload.observe(on_upload, names="value")
    return widgets.VBox([upload, shown, timings])
