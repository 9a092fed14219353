"""Notebook 04's exercises: a garment's box and the square consumer crop."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .core import Case, Outcome, Raises, as_array, first_difference, run_cases, shape_hint


def check_garment_box(garment_box: Callable) -> Outcome:
    """Notebook 04. ``garment_box(mask)`` returns ``(x0, y0, x1, y1)`` of a garment's boolean mask,
    end-exclusive like a slice (``mask[y0:y1, x0:x1]`` holds every garment pixel), as ``garments.box_of``
    does; an empty mask has no box and raises ``ValueError``."""
    from ..data.garments import box_of

    rng = np.random.default_rng(4)
    rows, cols = np.mgrid[:30, :20]
    blob = ((rows - 14) / 9.0) ** 2 + ((cols - 8) / 5.0) ** 2 <= 1 + 0.3 * rng.random((30, 20))
    two_pieces = np.zeros((30, 20), dtype=bool)
    two_pieces[2:5, 3:6] = two_pieces[20:27, 14:18] = True
    corner, far_corner, line = (np.zeros((12, 9), dtype=bool) for _ in range(3))
    corner[0, 0] = far_corner[-1, -1] = True
    line[2:10, 4] = True
    masks = [("a garment blob in a 30 x 20 mask", blob), ("two pieces far apart (the box spans both)", two_pieces),
             ("one pixel at the top-left corner", corner), ("one pixel at the bottom-right corner", far_corner),
             ("a one-pixel-wide vertical line", line), ("a mask that is all garment", np.ones((6, 9), dtype=bool))]
    cases = [Case(name, (mask,), box_of(mask)) for name, mask in masks]
    cases.append(Case("an empty mask", (np.zeros((5, 5), dtype=bool),),
                      Raises(ValueError, "an empty mask has no box: raise ValueError")))

    def judge(case: Case, result) -> str | None:
        try:
            got = tuple(int(v) for v in result)
        except (TypeError, ValueError):
            return f"return a tuple of four ints (x0, y0, x1, y1), got {result!r}"
        expected = case.expected
        x0, y0, x1, y1 = expected
        if len(got) != 4:
            return f"return four numbers (x0, y0, x1, y1), got {len(got)}"
        if got == expected:
            return None
        if got == (y0, x0, y1, x1):
            return f"got {got}, expected {expected}: the order is (x0, y0, x1, y1), columns (x) first, then rows (y)"
        if got == (x0, y0, x1 - 1, y1 - 1):
            return (f"got {got}, expected {expected}: the box is end-exclusive like a slice, x1 = last garment column "
                    "+ 1, so that mask[y0:y1, x0:x1] holds the whole garment")
        return f"got {got}, expected {expected}: x0, x1 from the columns holding a garment pixel, y0, y1 from the rows"

    return run_cases("check_garment_box", garment_box, cases, judge)


def check_consumer_crop(consumer_crop: Callable) -> Outcome:
    """Notebook 04. ``consumer_crop(photo, box, margin)`` returns the square crop (side x side x 3 uint8,
    before any resizing) that ``garments.consumer_view`` cuts around ``box = (x0, y0, x1, y1)``: side =
    ``round(long side * (1 + 2 * margin))``, centred on the box (``round((x0 + x1 - side) / 2)``), shifted
    to lie inside the photo where it fits, centred on the photo where it does not, and grey
    (``GarmentConfig.outside_grey``, 127) beyond the photo's edges."""

    rng = np.random.default_rng(5)
    photo = rng.integers(0, 256, (60, 40, 3), dtype=np.uint8)
    settings = [("a box in the middle of a 60 x 40 photo", photo, (12, 20, 26, 33), 0.1),
                ("a box at the left edge (the window shifts right to stay inside)", photo, (0, 25, 10, 37), 0.1),
                ("a box at the bottom-right corner", photo, (30, 49, 40, 60), 0.2),
                ("a tall box (the side follows its height)", photo, (15, 5, 21, 45), 0.1),
                ("a wide box", photo, (3, 30, 37, 36), 0.1),
                ("a box whose window is larger than the photo (grey beyond its edges)", photo, (2, 10, 38, 50), 0.1),
                ("margin 0", photo, (12, 20, 26, 33), 0.0),
                ("a box in a 7 x 5 photo", photo[:7, :5], (1, 2, 4, 6), 0.1)]
    cases = [_crop_case(*setting) for setting in settings]
    return run_cases("check_consumer_crop", consumer_crop, cases, _judge_crop)


def _crop_case(name: str, image: np.ndarray, box: tuple, margin: float) -> Case:
    import dataclasses

    from ..data.garments import DEFAULT_GARMENTS, consumer_view

    grey = DEFAULT_GARMENTS.outside_grey
    x0, y0, x1, y1 = box
    side = round(max(x1 - x0, y1 - y0) * (1 + 2 * margin))
    config = dataclasses.replace(DEFAULT_GARMENTS, view_size=side, consumer_margin=margin)
    expected = consumer_view(image, box, config)  # resized to its own size: unchanged
    outside = consumer_view(np.zeros_like(image), box, config) == grey
    # On a photo framed by a wide grey border the window always fits: it is never shifted. The border is
    # even, so round() (half to even) centres the window on the same pixel as in the photo itself.
    pad = 2 * side
    framed = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), constant_values=grey)
    unshifted = consumer_view(framed, (x0 + pad, y0 + pad, x1 + pad, y1 + pad), config)
    return Case(name, (image, box, margin), expected,
                data={"side": side, "outside": outside, "unshifted": unshifted, "framed": framed})


def _crop_size_hint(case: Case, got: np.ndarray) -> str | None:
    expected = case.expected
    _, (x0, y0, x1, y1), margin = case.args
    side, longest = case.data["side"], max(x1 - x0, y1 - y0)
    if got.ndim == 3 and got.shape[0] != got.shape[1]:
        return f"the crop is square, side x side: shape {got.shape}, expected {expected.shape}"
    if got.shape == expected.shape:
        return None
    if got.shape[:1] == (round(longest * (1 + margin)),):
        return (f"the margin goes on each side: side = round(long side x (1 + 2 x margin)) = {side}, "
                f"got {got.shape[0]}")
    if got.shape[:1] == (int(longest * (1 + 2 * margin)),):
        return (f"round the side, round(long side x (1 + 2 x margin)) = {side}, do not truncate it "
                f"(got {got.shape[0]})")
    return shape_hint(got, expected, "side x side x 3, the box's long side plus the margin on each side")


def _judge_crop(case: Case, result) -> str | None:
    got, expected = as_array(result), case.expected
    hint = _crop_size_hint(case, got)
    if hint:
        return hint
    if np.array_equal(got, expected):
        return None if got.dtype == np.uint8 else f"dtype {got.dtype}: return uint8, like the photo"
    outside = case.data["outside"]
    if outside.any() and np.array_equal(got[~outside], expected[~outside]):
        return (f"pixels beyond the photo's edges are grey ({expected[outside][0]}, GarmentConfig.outside_grey), "
                f"not {got[outside][0]}")
    if np.array_equal(got, case.data["unshifted"]):
        return ("where the window fits inside the photo, shift it inside (grey only where the window is "
                "larger than the photo)")
    offset = _window_offset(case, got)
    if offset:
        return _offset_hint(case, *offset)
    row, col, channel = first_difference(got, expected)
    return f"crop[{row}, {col}, {channel}] = {got[row, col, channel]}, expected {expected[row, col, channel]}"


def _window_offset(case: Case, got: np.ndarray) -> tuple[int, int] | None:
    """(dy, dx) when ``got`` is the library's window moved by up to two pixels, else None."""
    framed, side = case.data["framed"], case.data["side"]
    top, left = _window_origin(case.expected, framed)
    for dy, dx in ((dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if dy or dx):
        window = framed[max(top + dy, 0):top + dy + side, max(left + dx, 0):left + dx + side]
        if window.shape == got.shape and np.array_equal(got, window):
            return dy, dx
    return None


def _offset_hint(case: Case, dy: int, dx: int) -> str:
    (x0, y0, x1, y1), side = case.args[1], case.data["side"]
    halves = (not dx or (x0 + x1 - side) % 2) and (not dy or (y0 + y1 - side) % 2)
    if halves and abs(dx) <= 1 and abs(dy) <= 1:  # the centre falls on a half pixel: a rounding mistake
        return (f"your window is one pixel off ({dx} column(s), {dy} row(s)) where the centre falls on a half "
                "pixel: round with Python's round() (half to even), left = round((x0 + x1 - side) / 2), top = "
                "round((y0 + y1 - side) / 2); floor, ceil and int(v + 0.5) differ there")
    return (f"your window is off by {dx} column(s) and {dy} row(s): centre it on the box, left = "
            "round((x0 + x1 - side) / 2), top = round((y0 + y1 - side) / 2)")


def _window_origin(window: np.ndarray, framed: np.ndarray) -> tuple[int, int]:
    """Where ``window`` (the library's crop) sits in ``framed`` (the photo in a grey frame wider than
    the window), found by search rather than by repeating the library's placement rule."""
    side = window.shape[0]
    for top in range(framed.shape[0] - side + 1):
        for left in range(framed.shape[1] - side + 1):
            if np.array_equal(framed[top:top + side, left:left + side], window):
                return top, left
    raise AssertionError("the library's crop is not a window of the framed photo")
