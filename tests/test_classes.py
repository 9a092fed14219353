import json

import pytest

from clothlib.data import CLASS_GROUPS, CLASSES, GARMENT_CLASSES, NUM_CLASSES, ccp_to_class, export_classes, label_names
from clothlib.data.__main__ import main
from clothlib.data.classes import lookup_table


def test_thirteen_classes_with_null_hair_skin_first():
    assert NUM_CLASSES == 13
    assert CLASSES[:3] == ["null", "hair", "skin"]
    assert len(GARMENT_CLASSES) == 10
    assert all(reason for _, _, reason in CLASS_GROUPS)


def test_every_ccp_label_mapped_exactly_once(ccp_root):
    names = label_names()
    table = ccp_to_class()
    assert sorted(table) == sorted(names) and len(names) == 59
    labels = [label for _, group, _ in CLASS_GROUPS for label in group]
    assert len(labels) == len(set(labels)) == 59
    lut = lookup_table(names)
    assert set(lut.tolist()) == set(range(13)), "every class must receive at least one label"
    assert lut[names.index("shirt")] == lut[names.index("blouse")] == CLASSES.index("tops")
    assert lut[names.index("null")] == lut[names.index("watch")] == lut[names.index("bra")] == 0


def test_lookup_table_rejects_a_dataset_it_does_not_know():
    with pytest.raises(ValueError, match="unmapped"):
        lookup_table(["null", "kilt"])


def test_export_classes_cli(tmp_path, ccp_root):
    out = tmp_path / "sub" / "classes.json"
    main(["export-classes", "--out", str(out)])
    data = json.loads(out.read_text())
    assert data["classes"] == CLASSES
    assert len(data["ccp_to_class"]) == 59
    assert set(data["ccp_to_class"].values()) == set(range(13))
    assert list(tmp_path.joinpath("sub").iterdir()) == [out], "no temp files left behind"


def test_export_classes_is_atomic(tmp_path, monkeypatch):
    out = tmp_path / "classes.json"
    out.write_text("old")

    def broken_dump(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(json, "dump", broken_dump)
    with pytest.raises(RuntimeError):
        export_classes(out)
    assert out.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["classes.json"]
