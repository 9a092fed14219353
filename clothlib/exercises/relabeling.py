"""Notebook 01's exercise: the 59 -> 13 class table applied to a label mask."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .core import Case, Outcome, as_array, first_difference, run_cases, shape_hint


def check_relabel(relabel_mask: Callable) -> Outcome:
    """Notebook 01. ``relabel_mask(mask, label_names)`` turns a CCP label mask (uint8, values index
    ``label_names``, the dataset's ``label_list.mat`` order) into the 13-class mask that
    ``data.read_class_mask`` returns: same shape, uint8, class indices 0..12 from ``data.ccp_to_class()``.
    The cases use other label orders than CCP's, so a function must build its table from ``label_names``."""
    from ..data.classes import CLASSES, ccp_to_class, lookup_table, relabel

    rng = np.random.default_rng(1)
    table_order = list(ccp_to_class())
    shuffled = [str(name) for name in rng.permutation(table_order)]

    def case(name: str, mask: np.ndarray, names: list[str]) -> Case:
        return Case(name, (mask, names), relabel(mask, lookup_table(names)))

    every_label = rng.permutation(np.resize(np.arange(59, dtype=np.uint8), 64)).reshape(8, 8)
    cases = [case("an 8 x 8 mask holding all 59 labels", every_label, table_order),
             case("a 40 x 27 mask, label_names in another order", rng.integers(0, 59, (40, 27), dtype=np.uint8),
                  shuffled),
             case("a 1 x 1 mask", np.array([[7]], dtype=np.uint8), shuffled),
             case("an empty 0 x 5 mask", np.zeros((0, 5), dtype=np.uint8), shuffled),
             case("a mask of label 0 only", np.zeros((3, 4), dtype=np.uint8), shuffled)]

    def judge(case: Case, result) -> str | None:
        got, expected = as_array(result), case.expected
        mask, names = case.args
        hint = shape_hint(got, expected, "one class per pixel, the label mask's own shape")
        if hint:
            return hint
        if not np.array_equal(got, expected):
            row, col = first_difference(got, expected)
            label, value, right = int(mask[row, col]), got[row, col], int(expected[row, col])
            said = f"{value} ({CLASSES[int(value)]!r})" if value in range(len(CLASSES)) else f"{value}"
            return (f"pixel ({row}, {col}) holds label {label}, i.e. label_names[{label}] = {names[label]!r}, "
                    f"which belongs to class {right} ({CLASSES[right]!r}); your mask says {said}")
        if got.dtype != np.uint8:
            return f"dtype {got.dtype}: return uint8, as data.read_class_mask does (classes 0..12 fit in a byte)"
        return None

    return run_cases("check_relabel", relabel_mask, cases, judge)
