"""Photos as they come: a path, bytes, a file object, a ``PIL.Image`` or an array in; RGB uint8 out.

Students point the pipeline at their own phone photos, so every way a photo can arrive is accepted
and turned upright (EXIF orientation applied: a phone stores a portrait shot as a landscape JPEG
plus a "rotate me" tag), and every way it can be wrong is a ``ValueError`` that says what to pass.

Arrays follow one stated rule: H x W (grey), H x W x 1, H x W x 3 (RGB) or H x W x 4 (RGBA, the alpha
channel is dropped, as Pillow's RGBA -> RGB conversion does). uint8 values are used as they are;
other integer types must lie in 0..255; floating-point values must lie in [0, 1] and are scaled by
255 (the convention of matplotlib and scikit-image). Anything else is refused with a ValueError
that says what to pass, rather than guessed: casting, as the pipeline once did, turned a photo in
[0, 1] silently black.
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# A 108-megapixel phone photo (12000 x 9000) fits; a 30000 x 30000 image (2.7 GB once decoded) does
# not. Pillow itself refuses images over 2 x Image.MAX_IMAGE_PIXELS (179 MP) as decompression bombs.
MAX_PIXELS = 120_000_000
DRAFT_MARGIN = 2  # a JPEG is decoded at a reduced scale at least this many times the size asked for
_ORIENTATION_TAG = 0x0112  # EXIF: values 5-8 are rotations by 90 degrees (width and height swap)


def load_photo(source, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """The photo, upright, as an H x W x 3 RGB uint8 array at its full size.

    ``source``: a path, bytes, a binary file object, a ``PIL.Image`` or a NumPy array (see the
    module's docstring for the array rule). A photo over ``max_pixels`` pixels raises a
    ``ValueError`` that names the limit; a file that is not an image raises one that says so.
    """
    return load_downscaled(source, None, max_pixels)[0]


def load_downscaled(source, longest_side: int | None, max_pixels: int = MAX_PIXELS
                    ) -> tuple[np.ndarray, tuple[int, int]]:
    """``(pixels, (height, width))``: the photo as :func:`load_photo` reads it, scaled down (never
    up) so its longest side is at most ``longest_side`` (``None``: full size), and the upright size
    it came at, to map what is found in ``pixels`` back to the photo's own coordinates.

    A JPEG file is decoded directly at a reduced scale (1/2, 1/4 or 1/8: the smallest still at
    least ``DRAFT_MARGIN`` x ``longest_side``), which halves the time of decoding a 12-megapixel
    photo whole, then resized like an array. The margin matters: decoded at 1/4, just over the
    working size, the phone copies of 6 of 20 benchmark photos lost a garment the CCP originals
    showed; decoded at twice the size and then resized, they keep them.
    """
    if max_pixels > 2 * Image.MAX_IMAGE_PIXELS:
        raise ValueError(f"max_pixels={max_pixels:,} is over Pillow's own limit of {2 * Image.MAX_IMAGE_PIXELS:,} "
                         "pixels; raise PIL.Image.MAX_IMAGE_PIXELS first to go beyond it")
    if isinstance(source, np.ndarray):
        pixels = _array_rgb(source, max_pixels)
        return _downscale(pixels, _fitted(pixels.shape[:2], longest_side)), pixels.shape[:2]
    with _opened(source, max_pixels) as (image, name):
        width, height = image.size
        _check_pixels(width, height, max_pixels, name)
        ours = image is not source
        if ours and longest_side is not None and image.format == "JPEG":
            scale = min(1.0, DRAFT_MARGIN * longest_side / max(width, height))
            image.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))
        try:
            image.load()  # before reading EXIF: a PNG may keep it after the pixels
            turned = image.getexif().get(_ORIENTATION_TAG, 1) in (5, 6, 7, 8)
        except (OSError, SyntaxError, ValueError) as err:
            raise ValueError(f"{name} could not be decoded (a truncated or damaged image?): {err}") from err
        if ours:
            ImageOps.exif_transpose(image, in_place=True)
        else:
            image = ImageOps.exif_transpose(image)  # a copy: the caller's image stays as it was
        pixels = _image_rgb(image, max_pixels)
    upright = (width, height) if turned else (height, width)
    return _downscale(pixels, _fitted(upright, longest_side)), upright


@contextlib.contextmanager
def _opened(source, max_pixels: int):
    """``(image, name for messages)``; an image this function opened is closed afterwards, the
    caller's own ``PIL.Image`` or file object is left open."""
    if isinstance(source, Image.Image):
        yield source, "the image"
        return
    if isinstance(source, (bytes, bytearray, memoryview)):
        name, opened = "the uploaded file", io.BytesIO(source)
    elif isinstance(source, (str, os.PathLike)):
        name, opened = str(source), Path(source)
        if not opened.is_file():
            raise FileNotFoundError(f"no photo at {opened}")
    elif hasattr(source, "read"):
        name, opened = "the file object", source
    else:
        raise TypeError(f"a photo must be a path, bytes, a binary file object, a PIL.Image or a NumPy array, "
                        f"not {type(source).__name__}")
    with warnings.catch_warnings():
        # the size is checked against max_pixels below; Pillow's own warning would only repeat it
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(opened)
        except Image.DecompressionBombError as err:
            raise ValueError(f"{name} is over the limit of {max_pixels:,} pixels ({err}); "
                             "pass a smaller image") from err
        except (UnidentifiedImageError, OSError, SyntaxError) as err:
            raise ValueError(f"{name} is not a readable image (JPEG or PNG expected): {err}") from err
    with image:
        yield image, name


def _check_pixels(width: int, height: int, max_pixels: int, name: str) -> None:
    """Refuse a photo over the pixel limit, before it is decoded into memory."""
    if width * height > max_pixels:
        raise ValueError(f"{name} is {width} x {height} = {width * height:,} pixels, over the limit of "
                         f"{max_pixels:,} pixels; pass a smaller image (scale it down) or a larger max_pixels")


def _image_rgb(image: Image.Image, max_pixels: int) -> np.ndarray:
    """Pillow's modes to RGB; 16-bit and float modes go through the array rule (Pillow would clip
    a 16-bit photo to white)."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return _array_rgb(np.asarray(image), max_pixels)
    return np.array(image if image.mode == "RGB" else image.convert("RGB"))


def _array_rgb(array: np.ndarray, max_pixels: int) -> np.ndarray:
    """An array under the module's rule, as a contiguous H x W x 3 uint8 array."""
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected a channels-last image (H x W x 3), got shape {array.shape}: channels first? "
                         "pass array.transpose(1, 2, 0)")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))) or 0 in array.shape:
        raise ValueError(f"expected an H x W, H x W x 3 or H x W x 4 image, got shape {array.shape}")
    _check_pixels(array.shape[1], array.shape[0], max_pixels, "the array")
    array = _uint8(array)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    return np.ascontiguousarray(array[..., :3])


def _uint8(array: np.ndarray) -> np.ndarray:
    """The values rule: uint8 as is, integers in 0..255, floats in [0, 1] times 255."""
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.integer):
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise ValueError(f"integer pixel values must lie in 0..255, found {low}..{high}; scale them first "
                             "(a 16-bit image: (array // 257).astype(np.uint8))")
        return array.astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ValueError("the float array holds NaN or infinite values; pass finite values in [0, 1]")
        low, high = float(array.min()), float(array.max())
        if low < 0 or high > 1:
            raise ValueError(f"float pixel values must lie in [0, 1] (they are scaled by 255), found "
                             f"{low:g}..{high:g}; for values in 0..255 pass array.astype(np.uint8)")
        return np.rint(array * 255).astype(np.uint8)
    raise ValueError(f"pixel values of type {array.dtype} are not an image: pass uint8 (0..255) or float (0..1)")


def _fitted(shape: tuple[int, int], longest_side: int | None) -> tuple[int, int]:
    """``(height, width)`` scaled down so the longest side is ``longest_side``, from the photo's
    full size (not from a reduced decode), so the working size never depends on how it was read."""
    if longest_side is None or max(shape) <= longest_side:
        return shape
    scale = longest_side / max(shape)
    return max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale))


def _downscale(pixels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``pixels`` resized to ``shape`` (height, width) if it is not that size: area-averaging first,
    then Lanczos (sharp, no aliasing, and fast for large reductions)."""
    if pixels.shape[:2] == tuple(shape):
        return pixels
    resized = Image.fromarray(pixels).resize((shape[1], shape[0]), Image.Resampling.LANCZOS, reducing_gap=2.0)
    return np.array(resized)
