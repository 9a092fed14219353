"""load_photo: every way a photo arrives (path, bytes, file object, PIL image, arrays), EXIF orientation,
the float rule, the pixel limit, and the reduced-scale JPEG decode the pipeline uses."""
from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from clothlib.data.photos import MAX_PIXELS, load_downscaled, load_photo

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (20, 30, 3), dtype=np.uint8)


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def exif_jpeg(image: Image.Image, orientation: int, **kwargs) -> bytes:
    """A JPEG as a phone writes it: pixels stored in the sensor's orientation plus an EXIF tag."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif, **kwargs)
    return buffer.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` (header only: a decompression bomb costs nothing to make)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


def test_every_source_kind_gives_the_same_rgb_pixels(tmp_path):
    data = png_bytes(RGB)
    (tmp_path / "photo.png").write_bytes(data)
    with Image.open(io.BytesIO(data)) as opened:
        sources = {"path": tmp_path / "photo.png", "str path": str(tmp_path / "photo.png"), "bytes": data,
                   "bytearray": bytearray(data), "file object": io.BytesIO(data), "PIL image": opened, "array": RGB}
        for kind, source in sources.items():
            loaded = load_photo(source)
            assert loaded.dtype == np.uint8 and np.array_equal(loaded, RGB), kind
    with open(tmp_path / "photo.png", "rb") as f:
        assert np.array_equal(load_photo(f), RGB) and not f.closed, "the caller's file stays open"


def test_a_pil_image_is_accepted_in_any_mode_and_left_as_it_was():
    image = Image.fromarray(RGB)
    for mode in ("L", "RGBA", "P", "CMYK", "1"):
        converted = image.convert(mode)
        loaded = load_photo(converted)
        assert loaded.shape == (20, 30, 3) and loaded.dtype == np.uint8, mode
    rotated = Image.open(io.BytesIO(exif_jpeg(image, 6)))
    assert load_photo(rotated).shape == (30, 20, 3)
    assert rotated.size == (30, 20) and rotated.getexif()[0x0112] == 6, "the caller's image is not transposed"


def test_grey_and_rgba_arrays_and_images_are_converted():
    assert np.array_equal(load_photo(RGB[..., 0]), np.repeat(RGB[..., :1], 3, axis=2))
    assert np.array_equal(load_photo(RGB[..., :1]), np.repeat(RGB[..., :1], 3, axis=2))
    rgba = np.concatenate([RGB, np.full((20, 30, 1), 7, np.uint8)], axis=2)
    assert np.array_equal(load_photo(rgba), RGB), "alpha is dropped"
    assert np.array_equal(load_photo(png_bytes(rgba)), RGB), "a transparent PNG the same way"
    assert load_photo(png_bytes(RGB[..., 0])).shape == (20, 30, 3)


@pytest.mark.parametrize("orientation, turn", [(3, 2), (6, -1), (8, 1)])
def test_exif_orientation_is_applied(orientation, turn):
    # a photo with a bright top-left corner, stored turned as a phone stores it, with the tag that undoes it
    upright = np.zeros((60, 40, 3), np.uint8)
    upright[:15, :10] = 255
    stored = np.rot90(upright, -turn)
    loaded = load_photo(exif_jpeg(Image.fromarray(np.ascontiguousarray(stored)), orientation, quality=95))
    assert loaded.shape == upright.shape
    assert loaded[:15, :10].mean() > 200 and loaded[20:, 15:].mean() < 30, "bright corner back at the top left"


def test_float_arrays_in_0_1_are_scaled_by_255_and_others_refused():
    floats = RGB / 255.0
    assert np.array_equal(load_photo(floats), RGB)
    assert np.array_equal(load_photo(floats.astype(np.float32)), RGB)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\].*astype\(np.uint8\)"):
        load_photo(RGB.astype(np.float64))  # 0..255 floats: ambiguous, refused rather than cast
    with pytest.raises(ValueError, match="NaN"):
        load_photo(np.full((4, 4, 3), np.nan))
    assert np.array_equal(load_photo(RGB.astype(np.int64)), RGB), "integers in 0..255 are fine"
    with pytest.raises(ValueError, match=r"0\.\.255.*257"):
        load_photo(RGB.astype(np.uint16) * 257)
    with pytest.raises(ValueError, match="not an image"):
        load_photo(RGB > 127)


def test_bad_shapes_types_and_files_get_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="channels first"):
        load_photo(np.zeros((3, 20, 30), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        load_photo(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        load_photo(np.zeros((0, 4, 3), np.uint8))
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    with pytest.raises(ValueError, match="broken.jpg is not a readable image"):
        load_photo(tmp_path / "broken.jpg")
    with pytest.raises(ValueError, match="uploaded file is not a readable image"):
        load_photo(b"text")
    with pytest.raises(ValueError, match="could not be decoded"):
        noise = RNG.integers(0, 256, (200, 300, 3), dtype=np.uint8)
        whole = exif_jpeg(Image.fromarray(noise), 1)
        load_photo(whole[:len(whole) // 2])  # an upload cut off half way
    with pytest.raises(FileNotFoundError, match="no photo at"):
        load_photo(tmp_path / "missing.jpg")
    with pytest.raises(TypeError, match="path, bytes, a binary file object, a PIL.Image or a NumPy array"):
        load_photo([[1, 2], [3, 4]])


def test_too_large_images_are_a_value_error_that_says_the_limit():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning must not leak either
        with pytest.raises(ValueError, match=f"over the limit of {MAX_PIXELS:,} pixels") as caught:
            load_photo(png_header(30000, 30000))  # Pillow refuses it as a decompression bomb
        assert not isinstance(caught.value, Image.DecompressionBombError)
        with pytest.raises(ValueError, match=f"11000 x 11000 = 121,000,000 pixels, over the limit of {MAX_PIXELS:,}"):
            load_photo(png_header(11000, 11000))  # over our limit, under Pillow's: checked before decoding
    with pytest.raises(ValueError, match="over the limit of 500 pixels"):
        load_photo(png_bytes(RGB), max_pixels=500)
    with pytest.raises(ValueError, match="over the limit of 500 pixels"):
        load_photo(RGB, max_pixels=500)
    with pytest.raises(ValueError, match="Pillow's own limit"):
        load_photo(RGB, max_pixels=10**10)


def test_downscaled_keeps_the_upright_size_and_decodes_jpegs_at_reduced_scale():
    photo = np.asarray(Image.fromarray(RGB).resize((1200, 800), Image.Resampling.BICUBIC))
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(photo, -1)))  # 1200 tall x 800 wide, stored 800 x 1200
    data = exif_jpeg(stored, 6, quality=95)
    small, shape = load_downscaled(data, 300)
    assert shape == (800, 1200) and small.shape == (200, 300, 3)
    full = load_photo(data)
    assert full.shape == (800, 1200, 3)
    reference = np.asarray(Image.fromarray(full).resize((300, 200), Image.Resampling.LANCZOS)).astype(int)
    assert np.abs(small.astype(int) - reference).mean() < 4, "the reduced decode shows the same picture"
    same, shape = load_downscaled(RGB, 300)
    assert np.array_equal(same, RGB) and shape == (20, 30), "a photo within the working size is used as it is"
