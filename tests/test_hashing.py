"""Hashing networks: the losses' defining properties, the variants' heads, and a real (tiny) run
from consumer-to-shop views through training, resume, evaluation and code export."""
from __future__ import annotations

import dataclasses
import json
import random

import numpy as np
import pytest
import torch

from clothlib import engine, harness
from clothlib.data import c2s, pairs
from clothlib.data.attributes import NA
from clothlib.harness import MissingCheckpointError
from clothlib.hashing import (
    HashingConfig,
    agreement,
    encode,
    evaluate_checkpoint,
    forward_views,
    load_checkpoint,
    load_or_train,
    load_split_data,
    losses,
    models,
    train,
)
from clothlib.hashing import config as config_module
from clothlib.hashing import features as features_module
from clothlib.hashing.__main__ import main
from clothlib.hashing.config import DEFAULT_NETWORK, SHIPPED_RUNS, checkpoint_name, checkpoint_stem
from clothlib.parsing.config import DEFAULT_PARSER, DEFAULT_PARSER_FILE, ParsingConfig
from clothlib.retrieval import binarize, codes_from_hex, codes_to_hex, load_export, pack_codes, unpack_codes


def test_loss_is_zero_for_identical_similar_codes_at_plus_minus_one():
    codes = torch.tensor([[1.0, -1.0, 1.0, 1.0], [1.0, -1.0, 1.0, 1.0]])
    labels = torch.tensor([[0, 0], [0, 0]])
    result = losses.dsh_loss(codes, labels, margin=8)
    assert result["loss"].item() == 0


def test_dissimilar_pairs_push_only_inside_the_margin():
    a, b = torch.tensor([[1.0, 1.0, 1.0, 1.0]]), torch.tensor([[-1.0, -1.0, 1.0, 1.0]])  # squared distance 8
    dissimilar = torch.tensor([losses.DISSIMILAR])
    assert losses.dsh_pair_terms(a, b, dissimilar, margin=8).item() == 0
    assert losses.dsh_pair_terms(a, b, dissimilar, margin=10).item() == pytest.approx(1.0)  # (10 - 8) / 2
    assert losses.dsh_pair_terms(a, b, torch.tensor([losses.SIMILAR]), margin=10).item() == pytest.approx(4.0)


def test_same_category_pairs_are_pushed_only_to_their_own_margin():
    codes = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, -1.0]])  # squared distance 4
    labels = torch.tensor([[0, losses.IGNORED], [losses.IGNORED, 0]])
    assert losses.dsh_loss(codes, labels, margin=8)["loss"].item() == 0  # the pair rule leaves them out
    assert losses.dsh_loss(codes, labels, margin=8, same_category_margin=4)["loss"].item() == 0  # far enough
    pushed = losses.dsh_loss(codes, labels, margin=8, same_category_margin=6)
    assert pushed["push_same_category"].item() == pytest.approx(1.0)  # (6 - 4) / 2


def test_regulariser_has_a_gradient_away_from_plus_minus_one():
    codes = torch.tensor([[0.3, -0.5, 0.01, 0.99, -1.2]], requires_grad=True)
    losses.quantisation_regulariser(codes).sum().backward()
    assert torch.all(codes.grad.abs() > 0)
    assert losses.quantisation_regulariser(torch.tensor([[1.0, -1.0]])).item() == 0


def test_na_targets_contribute_nothing():
    logits = {"category": torch.randn(4, 10, requires_grad=True), "colour": torch.randn(4, 11, requires_grad=True)}
    targets = {"category": torch.tensor([1, 2, 3, 4]), "colour": torch.tensor([5, -1, -1, 0])}
    result = losses.multitask_loss(logits, targets, mu=0.05)
    result["loss"].backward()
    assert torch.all(logits["colour"].grad[1:3] == 0) and torch.any(logits["colour"].grad[0] != 0)
    expected = torch.nn.functional.cross_entropy(logits["category"], targets["category"]) + 0.05 * \
        torch.nn.functional.cross_entropy(logits["colour"][[0, 3]], targets["colour"][[0, 3]])
    assert result["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    all_na = losses.multitask_loss({"colour": logits["colour"]}, {"colour": torch.full((4,), -1)})
    assert all_na["loss"].item() == 0


def test_batch_pair_labels_follow_the_c2s_pair_rule():
    rng = random.Random(0)
    rows = [{"instance_id": f"i{rng.randrange(4)}", "similar_id": "s", "category": rng.choice(["tops", "pants"])}
            for _ in range(12)]
    labels = losses.pair_labels(np.array([r["instance_id"] for r in rows]), np.array([r["category"] for r in rows]))
    for i, a in enumerate(rows):
        for j, b in enumerate(rows):
            rule = pairs.pair_label(a, b, "instance")
            assert labels[i, j].item() == (losses.IGNORED if rule is None else rule)


@pytest.mark.parametrize("name", list(models.VARIANTS))
def test_variants_compose_their_heads(name):
    net = models.HashingNet(name, in_features=20, bits=16, hidden=32).eval()
    out = net(torch.randn(5, 20))
    assert out["codes"].shape == (5, 16) and out["codes"].abs().max() < 1 and out["features"].shape == (5, 32)
    expected = {"simnet": [], "catt_net": ["category", *models.ATTRIBUTE_TASKS],
                "catt2_net": ["category", *models.ATTRIBUTE_TASKS],
                "catt3_net": ["category", *models.ATTRIBUTE_TASKS, "fine_category"]}[name]
    assert list(out["logits"]) == expected
    for task, scores in out["logits"].items():
        assert scores.shape == (5, len(models.task_values(task)))
        assert NA not in models.task_values(task)
    if name in ("catt2_net", "catt3_net"):
        assert net.heads["colour"].in_features == 32 + len(models.task_values("category"))


# --- a real run on views cut from a few CCP photos ----------------------------------------------

def test_train_resume_evaluate_encode(cache_in, tmp_path, monkeypatch):
    config = HashingConfig(model="catt3_net", bits=16, epochs=2, batch_size=8, c2s=str(cache_in))
    out = train(config, tmp_path / "run.pt", progress=False)
    model, loaded, checkpoint = load_checkpoint(out)
    assert loaded == config and len(checkpoint["history"]) == 2 and set(checkpoint["tasks"]) == set(model.tasks)
    curve = json.loads(out.with_suffix(".curve.json").read_text())
    assert 0 <= curve[-1]["val_pair_acc"] <= 100 and 0 <= curve[-1]["val_category_acc"] <= 100

    # interrupted after two of three epochs and resumed == three uninterrupted epochs
    longer = dataclasses.replace(config, epochs=3)
    real_save, saves = engine.save_state, []

    def interrupt_at_third_epoch(path, state):
        saves.append(path)
        if len(saves) == 3:
            raise KeyboardInterrupt
        return real_save(path, state)

    monkeypatch.setattr(engine, "save_state", interrupt_at_third_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(longer, tmp_path / "resumed.pt", progress=False)
    monkeypatch.setattr(engine, "save_state", real_save)
    resumed = load_checkpoint(train(longer, tmp_path / "resumed.pt", progress=False))[0]
    fresh = load_checkpoint(train(longer, tmp_path / "fresh.pt", progress=False))[0]
    for a, b in zip(resumed.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)

    metrics = evaluate_checkpoint(out, "test", progress=False)
    assert metrics["items"] > 0 and 0 <= metrics["category_acc"] <= 100 and 0 <= metrics["majority"]["category"] <= 100
    assert metrics["category_acc"] <= metrics["category_top3_acc"] <= 100
    assert metrics["majority"]["category"] <= metrics["majority"]["category_top3"] <= 100
    assert not out.with_suffix(".test.metrics.json").exists(), "evaluating must not write: the command line saves"
    main(["evaluate", "--checkpoint", str(out), "--split", "test", "--quiet"])
    saved = json.loads(out.with_suffix(".test.metrics.json").read_text())
    records = json.loads(out.with_suffix(".test.items.json").read_text())
    assert {**saved, "per_item": records["per_item"]} == json.loads(json.dumps(metrics))

    # the per-item records say what the summary says: category accuracy recomputed from them
    test = load_split_data(config, "test", progress=False)
    values = models.task_values("category")
    predicted = [values.index(v) for v in metrics["per_item"]["category"]]
    assert metrics["per_item"]["item_id"] == test.item_ids
    recomputed = 100 * np.mean(np.array(predicted) == test.targets["category"].numpy())
    assert recomputed == pytest.approx(metrics["category_acc"], abs=1e-3)

    export = encode(out, "test", progress=False)
    assert not (tmp_path / "codes").exists()
    codes = export["query_codes"]
    assert codes.dtype == np.uint8 and codes.shape == (len(export["query_items"]), 2)
    assert export["gallery_features"].shape == (len(export["query_items"]), config.hidden)
    assert export["query_items"] == export["gallery_items"] == test.item_ids and export["meta"]["bits"] == 16
    # big-endian packing of the sign of the relaxed codes, and the same codes in the per-item records
    consumer = forward_views(model, test)["consumer"]
    relaxed = consumer["relaxed"]
    assert np.array_equal(unpack_codes(codes, 16), consumer["codes"].numpy() >= 0)
    assert np.array_equal(relaxed.numpy() >= 0, consumer["codes"].numpy() >= 0), "relaxed codes have the codes' signs"
    assert relaxed.abs().max() <= 1 and (relaxed.abs() < 1).any(), "sign_ste's relaxed codes are not the signs"
    assert np.array_equal(codes_from_hex(metrics["per_item"]["query_code"]), codes)
    # the queries' relaxed codes travel with the export, so asymmetric re-ranking runs from it
    assert export["query_relaxed"].dtype == np.float32 and np.array_equal(export["query_relaxed"], relaxed.numpy())
    # the command line writes the export; the retrieval side reads back what was computed
    main(["encode", "--checkpoint", str(out), "--split", "test", "--out", str(tmp_path / "codes"), "--quiet"])
    written = load_export(tmp_path / "codes")
    assert written["meta"] == export["meta"] and written["query_items"] == export["query_items"]
    for name in ("query_codes", "gallery_codes", "query_features", "gallery_features", "query_relaxed"):
        assert np.array_equal(written[name], export[name])


def test_agreement_compares_the_items_two_results_share():
    shipped = {"per_item": {"item_id": ["a", "b", "c", "d"], "query_code": ["00", "01", "02", "03"],
                            "category": ["tops", "pants", "skirt", "bag"]}}
    subset = {"per_item": {"item_id": ["d", "b", "x"], "query_code": ["03", "ff", "00"],
                           "category": ["bag", "pants", "tops"]}}
    assert agreement(subset, shipped) == {"items": 2, "query_code": 50.0, "category": 100.0}
    with pytest.raises(ValueError, match="no item"):
        agreement({"per_item": {"item_id": ["x"], "category": ["bag"]}}, shipped)


def test_a_missing_checkpoint_is_an_error_naming_the_script_and_trains_nothing(tmp_path, monkeypatch):
    """The bug this pins: a missing shipped checkpoint silently started a training run."""
    monkeypatch.setattr(config_module, "settings", dataclasses.replace(config_module.settings, checkpoint_dir=tmp_path))
    monkeypatch.setattr(harness, "settings", dataclasses.replace(harness.settings, cache_dir=tmp_path / "cache"))
    with pytest.raises(MissingCheckpointError, match="bash checkpoints/train_hashing.sh"):
        load_or_train(HashingConfig(bits=16, epochs=1))
    with pytest.raises(MissingCheckpointError, match="bash checkpoints/train_hashing.sh"):
        load_checkpoint(tmp_path / "hash_catt3_net_16.pt")
    assert not (tmp_path / "cache").exists()


def test_train_if_missing_trains_into_the_cache_once(cache_in, tmp_path, monkeypatch):
    monkeypatch.setattr(config_module, "settings", dataclasses.replace(config_module.settings, checkpoint_dir=tmp_path))
    monkeypatch.setattr(harness, "settings", dataclasses.replace(harness.settings, cache_dir=tmp_path / "cache"))
    config = HashingConfig(bits=16, epochs=1, batch_size=8, c2s=str(cache_in), max_items=8)
    _, loaded, checkpoint = load_or_train(config, train_if_missing=True)
    cached = harness.cached_run_path("hash_catt3_net_16", config, c2s.load_meta(cache_in)["config"])
    assert loaded == config and checkpoint["path"] == cached, "the cache file is named by config and data"
    assert cached != harness.cached_run_path("hash_catt3_net_16", config)
    assert train(config) == checkpoint["path"], "train() without out trains into the same cache file"
    assert not list(tmp_path.glob("*.pt")), "nothing lands beside the shipped checkpoints"
    monkeypatch.setattr(harness, "train_run", lambda *a, **k: pytest.fail("trained again"))
    assert load_or_train(config)[2]["path"] == checkpoint["path"], "an opted-in run is found again without the flag"


def test_demo_features_of_the_first_items_agree_with_the_whole_split(cache_in, tmp_path, monkeypatch):
    monkeypatch.setattr(features_module, "settings", dataclasses.replace(features_module.settings, cache_dir=tmp_path))
    first = features_module.split_features(cache_in, "val", progress=False, max_items=2)  # a file of their own
    whole = features_module.split_features(cache_in, "val", progress=False)
    assert len(first["item_ids"]) == 2 and np.array_equal(first["item_ids"], whole["item_ids"][:2])
    assert np.allclose(first["consumer"], whole["consumer"][:2], atol=1e-5)
    files = sorted(tmp_path.rglob("*.npz"))
    again = features_module.split_features(cache_in, "val", progress=False, max_items=2)  # sliced from the whole split
    assert np.array_equal(again["consumer"], whole["consumer"][:2]) and sorted(tmp_path.rglob("*.npz")) == files


def test_configs_are_frozen_and_checkpoints_carry_them():
    with pytest.raises(dataclasses.FrozenInstanceError):
        HashingConfig().bits = 16
    assert HashingConfig.from_dict(HashingConfig(bits=32).to_dict()) == HashingConfig(bits=32)
    assert HashingConfig().name == "hash_catt3_net_48" and HashingConfig(backbone="parsing").name.endswith("_parsing")


# Computed by HashingNet.forward before its quantiser was a class (and before codes() existed), on three
# seeded random feature vectors: the shipped checkpoints must keep giving these very bits.
SHIPPED_CODES = {"hash_catt3_net_48": (["17d3180183af", "871265bfb267", "07b2501683ef"], -0.9455971717834473),
                 "hash_simnet_48": (["3b9359abaeb8", "8f2325bf32e7", "07b359aea2a2"], 5.215479850769043)}


@pytest.mark.parametrize("stem", SHIPPED_CODES)
def test_shipped_networks_give_the_codes_they_gave_before_quantisers_were_classes(stem):
    model, config, checkpoint = load_checkpoint(config_module.settings.checkpoint_dir / f"{stem}.pt")
    assert config.quantiser == "sign_ste", "the string stays the stored config's value"
    x = torch.randn(3, checkpoint["in_features"], generator=torch.Generator().manual_seed(0))
    codes, relaxed_sum = SHIPPED_CODES[stem]
    assert codes_to_hex(model.codes(x)) == codes
    with torch.no_grad():
        out = model(x)
    assert abs(out["relaxed"].sum().item() - relaxed_sum) < 1e-4
    assert codes_to_hex(pack_codes(binarize(out["relaxed"].numpy()))) == codes


def test_the_default_networks_are_the_configs_defaults_and_shipped_files():
    # one name for the network the later stages use: the config's defaults, a shipped run, its file
    assert DEFAULT_NETWORK == "hash_catt3_net_48" == HashingConfig().name
    assert (HashingConfig().model, HashingConfig().bits, HashingConfig().backbone) in SHIPPED_RUNS
    shipped = config_module.shipped_path(HashingConfig()).name
    assert checkpoint_name("catt3_net", 48) == f"{DEFAULT_NETWORK}.pt" == shipped
    assert checkpoint_stem("catt3_net", 48, "imagenet") == "hash_catt3_net_48_imagenet"
    assert DEFAULT_PARSER == ParsingConfig().model == "effnet_fcn" and DEFAULT_PARSER_FILE == "effnet_fcn.pt"


def test_parsing_backbone_features_are_keyed_by_the_checkpoint_they_came_from(small_set, tmp_path, monkeypatch):
    folder = small_set[0]
    monkeypatch.setattr(features_module, "settings", dataclasses.replace(features_module.settings,
                                                                        checkpoint_dir=tmp_path, cache_dir=tmp_path))
    (tmp_path / DEFAULT_PARSER_FILE).write_bytes(b"first release")
    before = features_module.cache_path(folder, "parsing", "train")
    assert features_module.cache_path(folder, "imagenet", "train") != before
    (tmp_path / DEFAULT_PARSER_FILE).write_bytes(b"retrained")
    assert features_module.cache_path(folder, "parsing", "train") != before, "stale features of the old network"


def test_topk_share_counts_a_target_among_the_k_best_and_skips_na():
    from clothlib.hashing.evaluation import topk_share

    scores = torch.tensor([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0], [1.0, 0.0, 0.0, 0.0]])
    target = torch.tensor([2, 0, -1])  # third row: n/a
    assert topk_share(scores, target, 1) == 0.0
    assert topk_share(scores, target, 3) == 50.0  # 2 is third for row 0; 0 is last for row 1
    assert topk_share(scores, target, 4) == 100.0
    assert topk_share(scores, torch.tensor([-1, -1, -1]), 3) is None
