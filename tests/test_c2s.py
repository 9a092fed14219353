import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

from clothlib.data import CLASSES, attributes, c2s, garments, load_split, pairs
from clothlib.data.attributes import NA
from clothlib.data.c2s import DEFAULT_CONFIG, C2SConfig

WHITE = 255
TOPS, SHOES, BAG, ACCESSORIES, SKIRT = (CLASSES.index(c) for c in ("tops", "shoes", "bag", "accessories", "skirt"))


def scene(height=200, width=100):
    """A green photo and an all-background class mask to draw garments into."""
    photo = np.zeros((height, width, 3), dtype=np.uint8)
    photo[:] = (40, 160, 60)
    return photo, np.zeros((height, width), dtype=np.uint8)


# --- boxes and regions -------------------------------------------------------------------------

def test_box_is_end_exclusive_like_a_slice():
    mask = np.zeros((50, 40), dtype=bool)
    mask[10:20, 5:35] = True
    assert garments.box_of(mask) == (5, 10, 35, 20)
    with pytest.raises(ValueError):
        garments.box_of(np.zeros((5, 5), dtype=bool))


def test_regions_keep_big_classes_drop_small_ones_and_specks():
    _, classes = scene()  # 20,000 px: the minimum area is 40 px
    classes[20:80, 20:80] = TOPS
    classes[199, 99] = TOPS  # a one-pixel label speck far away
    classes[100:105, 10:15] = BAG  # 25 px: below the minimum
    classes[180:190, 10:20] = SHOES
    classes[180:190, 70:80] = SHOES  # the other shoe, far apart: still one item
    regions = garments.garment_regions(classes)
    assert sorted(regions) == ["shoes", "tops"]
    assert garments.box_of(regions["tops"]) == (20, 20, 80, 80), "the speck must not stretch the box"
    assert garments.box_of(regions["shoes"]) == (10, 180, 80, 190)
    assert regions["shoes"].sum() == 200
    assert garments.garment_regions(classes, C2SConfig(min_area_fraction=0.001)).keys() >= {"bag"}


def test_accessories_keep_one_object_not_a_hat_and_a_belt():
    _, classes = scene()
    classes[5:15, 40:60] = ACCESSORIES  # hat, 200 px
    classes[15:18, 35:65] = ACCESSORIES  # brim touching it
    classes[120:126, 30:60] = ACCESSORIES  # belt far below, 180 px
    region = garments.garment_regions(classes)["accessories"]
    assert garments.box_of(region) == (35, 5, 65, 18)


def test_largest_piece_survives_even_among_many_equal_ones():
    mask = np.zeros((40, 40), dtype=bool)
    mask[::2, ::2] = True  # 400 isolated pixels, each under 5% of the total
    assert garments.drop_specks(mask, DEFAULT_CONFIG.speck_fraction).sum() >= 1


# --- views -------------------------------------------------------------------------------------

def test_consumer_view_is_a_square_crop_with_context():
    photo, _ = scene()
    photo[50:100, 40:60] = (200, 20, 30)
    view = garments.consumer_view(photo, (40, 50, 60, 100))
    assert view.shape == (DEFAULT_CONFIG.view_size, DEFAULT_CONFIG.view_size, 3)
    assert (np.abs(view.astype(int) - (40, 160, 60)).sum(-1) < 30).mean() > 0.3, "background stays in"
    assert (np.abs(view.astype(int) - (200, 20, 30)).sum(-1) < 30).mean() > 0.2
    # a box taller than the photo is wide: grey fills what lies beyond the photo's edges
    edge = garments.consumer_view(photo, (0, 0, 100, 200))
    assert (edge[:, :3] == DEFAULT_CONFIG.outside_grey).all() and (edge[:, -3:] == DEFAULT_CONFIG.outside_grey).all()


def test_shop_view_is_the_garment_alone_centred_on_white():
    photo, _ = scene()
    mask = np.zeros(photo.shape[:2], dtype=bool)
    mask[40:160, 30:60] = True
    photo[mask] = (200, 20, 30)
    view = garments.shop_view(photo, mask, garments.item_rng("0001_dress"))
    assert view.shape == (DEFAULT_CONFIG.view_size, DEFAULT_CONFIG.view_size, 3)
    assert (view[0] == WHITE).all() and (view[-1] == WHITE).all() and (view[:, 0] == WHITE).all()
    greenish = (view[..., 1].astype(int) - view[..., 0]) > 60
    assert not greenish.any(), "no background pixel survives the cut"
    x0, y0, x1, y1 = garments.box_of((view < 230).any(-1))
    centre = (DEFAULT_CONFIG.view_size - 1) / 2
    assert abs((x0 + x1 - 1) / 2 - centre) <= 1.5 and abs((y0 + y1 - 1) / 2 - centre) <= 1.5
    low, high = DEFAULT_CONFIG.shop_fill
    assert low * DEFAULT_CONFIG.view_size - 3 <= max(x1 - x0, y1 - y0) <= high * DEFAULT_CONFIG.view_size + 3


def test_shop_view_is_seeded_by_item_id():
    photo, _ = scene()
    mask = np.zeros(photo.shape[:2], dtype=bool)
    mask[40:160, 30:60] = True
    photo[40:100, 30:60] = (200, 20, 30)  # two-tone, so a flip changes the picture
    first = garments.shop_view(photo, mask, garments.item_rng("0001_dress"))
    np.testing.assert_array_equal(first, garments.shop_view(photo, mask, garments.item_rng("0001_dress")))
    others = [garments.shop_view(photo, mask, garments.item_rng(f"{i:04d}_dress")) for i in range(2, 6)]
    assert any(not np.array_equal(first, other) for other in others)


# --- attributes --------------------------------------------------------------------------------

@pytest.mark.parametrize("rgb, name", [((0, 0, 0), "black"), ((255, 255, 255), "white"), ((128, 128, 128), "gray"),
                                       ((220, 20, 20), "red"), ((250, 140, 0), "orange"), ((250, 230, 0), "yellow"),
                                       ((20, 160, 40), "green"), ((20, 110, 110), "green"), ((20, 40, 200), "blue"),
                                       ((20, 30, 80), "blue"), ((120, 40, 160), "purple"), ((250, 150, 190), "pink"),
                                       ((120, 70, 30), "brown")])
def test_colour_names(rgb, name):
    assert attributes.COLOUR_NAMES[attributes.colour_indices(np.array([rgb], dtype=np.uint8))[0]] == name


def test_solid_and_multicolour():
    red, white = np.array([(220, 20, 20)], np.uint8), np.array([(255, 255, 255)], np.uint8)
    solid = attributes.colour_attributes(np.concatenate([red.repeat(70, 0), white.repeat(30, 0)]))
    assert solid == {"colour": "red", "pattern": "solid", "second_colour": NA, "tone": "medium", "colour_share": 0.7}
    mixed = attributes.colour_attributes(np.concatenate([red.repeat(45, 0), white.repeat(55, 0)]))
    assert (mixed["colour"], mixed["pattern"], mixed["second_colour"], mixed["tone"]) == \
        ("white", "multicolour", "red", "light")
    assert attributes.colour_attributes(np.zeros((10, 3), np.uint8))["tone"] == "dark"


def test_relative_length_and_its_values():
    person = np.zeros((100, 10), dtype=bool)
    person[0:100] = True
    garment = np.zeros_like(person)
    garment[50:80] = True
    assert attributes.relative_length(garment, person) == pytest.approx(0.3)
    short, long = attributes.LENGTH_CUTS["skirt"]
    assert attributes.length_value("skirt", short - 0.01) == "short"
    assert attributes.length_value("skirt", (short + long) / 2) == "medium"
    assert attributes.length_value("skirt", long) == "long"
    assert attributes.length_value("shoes", 0.9) == NA


def test_attribute_table_gives_every_group_an_na_except_category():
    for name, values in attributes.ATTRIBUTE_VALUES.items():
        assert len(values) == len(set(values))
        assert (values[0] == NA) == (name != "category")
    assert set(attributes.LENGTH_CUTS) == set(attributes.LENGTH_CLASSES)
    assert set(attributes.ATTRIBUTE_VALUES) <= set(c2s.COLUMNS)


# --- pair rules --------------------------------------------------------------------------------

def item(instance, category, similar):
    return {"instance_id": instance, "category": category, "similar_id": similar}


def test_pair_rules():
    jeans_a, jeans_b = item("a", "pants", "pants|jeans|blue"), item("b", "pants", "pants|jeans|blue")
    bag = item("c", "bag", "bag|bag|blue")
    assert pairs.pair_label(jeans_a, jeans_a, "instance") == 0
    assert pairs.pair_label(jeans_a, jeans_b, "instance") is None, "different item, same category: left out"
    assert pairs.pair_label(jeans_a, jeans_b, "similar") == 0
    assert pairs.pair_label(jeans_a, bag, "instance") == 1 and pairs.pair_label(jeans_a, bag, "similar") == 1
    with pytest.raises(KeyError):
        pairs.pair_label(jeans_a, bag, "colour")


def test_pair_counts_match_the_rule_pair_by_pair():
    rng = np.random.default_rng(0)
    items = [item(str(i), str(rng.integers(3)), "") for i in range(30)]
    for it in items:
        it["similar_id"] = f"{it['category']}|{rng.integers(2)}"
    for protocol in pairs.PROTOCOLS:
        labels = [pairs.pair_label(a, b, protocol) for a in items for b in items]
        expected = {"similar": labels.count(0), "dissimilar": labels.count(1), "ambiguous": labels.count(None)}
        assert pairs.pair_counts(items, protocol) == expected


# --- the real data: a few photos ---------------------------------------------------------------

PHOTOS = ["0001", "0002", load_split("test")[0], load_split("val")[0]]


@pytest.fixture(scope="module")
def small_build(ccp_root, tmp_path_factory):
    return c2s.build_c2s(tmp_path_factory.mktemp("c2s") / "c2s", photo_ids=PHOTOS, workers=1, progress=False)


def files_of(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_build_is_deterministic_idempotent_and_atomic(small_build, tmp_path):
    stamps = {p: p.stat().st_mtime_ns for p in small_build.rglob("*")}
    assert c2s.build_c2s(small_build, photo_ids=PHOTOS, workers=1, progress=False) == small_build
    assert {p: p.stat().st_mtime_ns for p in small_build.rglob("*")} == stamps, "a second run changes nothing"
    again = c2s.build_c2s(tmp_path / "again", photo_ids=list(reversed(PHOTOS)), workers=2, progress=False)
    assert files_of(again) == files_of(small_build), "same bytes whatever the order or the workers"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no staging folder left behind"


def test_a_new_config_replaces_the_build_and_foreign_folders_are_refused(small_build, tmp_path):
    out = tmp_path / "c2s"
    c2s.build_c2s(out, photo_ids=PHOTOS[:1], workers=1, progress=False)
    c2s.build_c2s(out, photo_ids=PHOTOS[:2], workers=1, progress=False)
    assert {row["photo_id"] for row in c2s.load_manifest(out)} <= set(PHOTOS[:2])
    assert c2s.load_meta(out)["config"]["photos"] == 2
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        c2s.build_c2s(foreign, photo_ids=PHOTOS[:1], workers=1, progress=False)
    assert (foreign / "notes.txt").read_text() == "keep me"


# every C2SConfig field with a value other than its default
CHANGED = {"view_size": 64, "min_area_fraction": 0.01, "speck_fraction": 0.1,
           "one_object_classes": ("accessories", "bag"), "consumer_margin": 0.2, "outside_grey": 0,
           "shop_fill": (0.7, 0.9), "shop_max_rotation": 0.0, "shop_exposure": (1.0, 1.0),
           "shop_flip_probability": 0.0, "white_balance_limits": (1.0, 1.0), "erosion": 3,
           "min_eroded_pixels": 10, "colour_weights": (1.0, 1.0, 1.0), "colour_bits": 6,
           "colours": (("black", ((0, 0, 0),)), *attributes.COLOURS[1:]), "solid_share": 0.5,
           "tone_cuts": (30.0, 70.0), "length_cuts": {**attributes.LENGTH_CUTS, "skirt": (0.2, 0.3)},
           "jpeg_quality": 90}


def test_changing_any_config_field_rebuilds_and_an_equal_config_reuses(tmp_path):
    assert list(CHANGED) == [field.name for field in dataclasses.fields(C2SConfig)], (
        "a new field needs a value here; the order is meta.json's, so a reordered field rewrites every build's key")
    out = tmp_path / "c2s"
    c2s.build_c2s(out, photo_ids=[], workers=1, progress=False)
    for name, value in CHANGED.items():
        stamp = (out / "meta.json").stat().st_mtime_ns
        config = dataclasses.replace(DEFAULT_CONFIG, **{name: value})
        c2s.build_c2s(out, photo_ids=[], workers=1, progress=False, config=config)
        stored = c2s.load_meta(out)["config"]["parameters"]
        assert stored[name] == json.loads(json.dumps(value)), f"changing {name} must rebuild"
        assert (out / "meta.json").stat().st_mtime_ns != stamp
        stamp = (out / "meta.json").stat().st_mtime_ns
        c2s.build_c2s(out, photo_ids=[], workers=1, progress=False, config=C2SConfig(**{name: value}))
        assert (out / "meta.json").stat().st_mtime_ns == stamp, f"an equal config with {name} changed must reuse"
        c2s.build_c2s(out, photo_ids=[], workers=1, progress=False)  # back to the default


def test_a_changed_parameter_replaces_stale_views(ccp_root, tmp_path):
    out, photo = tmp_path / "c2s", PHOTOS[:1]
    flipped = c2s.build_c2s(tmp_path / "flipped", photo_ids=photo, workers=1, progress=False,
                            config=C2SConfig(shop_flip_probability=1.0))
    c2s.build_c2s(out, photo_ids=photo, workers=1, progress=False, config=C2SConfig(shop_flip_probability=0.0))
    unflipped = files_of(out)
    c2s.build_c2s(out, photo_ids=photo, workers=1, progress=False, config=C2SConfig(shop_flip_probability=1.0))
    shops = [name for name in unflipped if name.startswith("shop/")]
    assert shops and all(unflipped[name] != files_of(out)[name] for name in shops)
    assert files_of(out) == files_of(flipped)


@pytest.mark.parametrize("bad", [{"colours": attributes.COLOURS[::-1]}, {"shop_flip_probability": 1.5},
                                 {"tone_cuts": (65.0, 35.0)}, {"length_cuts": {"hair": (0.1, 0.2)}}, {"erosion": -1},
                                 {"colour_bits": 8}, {"view_size": 0}, {"one_object_classes": ("hair",)},
                                 {"jpeg_quality": 0}])
def test_config_refuses_values_the_builder_cannot_use(bad):
    with pytest.raises(ValueError):
        C2SConfig(**bad)


def test_the_pipeline_cuts_by_the_builds_default_rule():
    """A query is cut by ``garments.DEFAULT_GARMENTS``, the set's items by ``c2s.DEFAULT_CONFIG``:
    the garment part of the one is the other, so queries look like the items the codes learnt."""
    shared = {field.name: getattr(DEFAULT_CONFIG, field.name) for field in dataclasses.fields(garments.GarmentConfig)}
    assert garments.GarmentConfig(**shared) == garments.DEFAULT_GARMENTS
    assert isinstance(DEFAULT_CONFIG, garments.GarmentConfig) and isinstance(DEFAULT_CONFIG, attributes.AttributeConfig)


def test_manifest_splits_ids_and_na(small_build):
    rows = c2s.load_manifest(small_build)
    split_of = {photo_id: name for name in ("train", "val", "test") for photo_id in load_split(name)}
    assert rows and len({row["item_id"] for row in rows}) == len(rows)
    assert {row["split"] for row in rows} == {"train", "val", "test"}
    for row in rows:
        assert row["split"] == split_of[row["photo_id"]] and row["source"] == "gt"
        assert (small_build / row["consumer"]).exists() and (small_build / row["shop"]).exists()
        assert row["instance_id"] == row["item_id"] and row["similar_id"] == pairs.similar_id(row)
        assert (row["length"] == NA) == (row["category"] not in attributes.LENGTH_CLASSES)
        assert (row["second_colour"] == NA) == (row["pattern"] == "solid")
        assert row["fine_category"] != NA and row["colour"] != NA
        assert all(row[name] in values for name, values in attributes.ATTRIBUTE_VALUES.items())
        assert 0 <= row["x0"] < row["x1"] and 0 <= row["y0"] < row["y1"]
        assert row["area"] >= DEFAULT_CONFIG.min_area_fraction
    meta = json.loads((small_build / "meta.json").read_text())
    assert meta["counts"]["items"] == len(rows)
    assert meta["attributes"]["colour"] == list(attributes.ATTRIBUTE_VALUES["colour"])


def test_missing_set_names_the_build_command(tmp_path):
    with pytest.raises(c2s.C2SMissingError, match="build_c2s.py"):
        c2s.load_manifest(tmp_path)


# --- pseudo-labelled tag-only photos -----------------------------------------------------------

def write_prediction(folder, photo_id, blocks):
    """A predicted class map the size of the photo, with ``{class index: (y0, y1, x0, x1)}`` drawn in."""
    from clothlib.data import read_photo

    labels = np.zeros(read_photo(photo_id).shape[:2], dtype=np.uint8)
    for index, (y0, y1, x0, x1) in blocks.items():
        labels[y0:y1, x0:x1] = index
    Image.fromarray(labels).save(folder / f"{photo_id}.png")


def test_pseudo_items_are_kept_only_where_the_tags_agree(ccp_root, tmp_path):
    predictions = tmp_path / "predictions"
    predictions.mkdir()
    assert {"tops", "skirt"} <= c2s.tagged_classes("1005") and "bag" not in c2s.tagged_classes("1005")
    write_prediction(predictions, "1005",
                     {TOPS: (200, 400, 150, 400), SKIRT: (400, 550, 150, 400), BAG: (450, 550, 420, 520)})
    write_prediction(predictions, "0001", {TOPS: (200, 400, 150, 400)})  # annotated photo: ignored
    out = c2s.build_c2s(tmp_path / "c2s", photo_ids=[], predictions=predictions, workers=1, progress=False,
                        partial_predictions=True)
    rows = c2s.load_manifest(out)
    assert sorted(row["category"] for row in rows) == ["skirt", "tops"]
    assert all((row["source"], row["split"], row["fine_category"]) == ("pseudo", "train", NA) for row in rows)
    assert all(row["similar_id"].endswith(f"|{NA}|{row['colour']}") for row in rows)
    top = next(row for row in rows if row["category"] == "tops")
    assert (top["x0"], top["y0"], top["x1"], top["y1"]) == (150, 200, 400, 400)
    pseudo = c2s.load_meta(out)["counts"]["pseudo"]
    assert pseudo == {"photos": 1, "kept": 2, "rejected": 1, "kept_by_category": {"skirt": 1, "tops": 1},
                      "rejected_by_category": {"bag": 1}}


def test_bad_predictions_are_named(ccp_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="clothlib.parsing predict"):
        c2s.prediction_files(tmp_path / "nowhere")
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "1005.png")
    with pytest.raises(ValueError, match="1005.png"):
        c2s.build_c2s(tmp_path / "c2s", photo_ids=[], predictions=tmp_path, workers=1, progress=False,
                      partial_predictions=True)
    (tmp_path / "classes.json").write_text(json.dumps({"classes": ["null", "garment"]}))
    with pytest.raises(ValueError, match="classes.json"):
        c2s.prediction_files(tmp_path)
