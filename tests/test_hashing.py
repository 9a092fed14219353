"""Hashing networks: the losses' defining properties, the variants' heads, and a real (tiny) run
from consumer-to-shop views through training, resume, evaluation and code export."""
from __future__ import annotations

import dataclasses
import json
import random

import numpy as np
import pytest
import torch

from clothlib import engine
from clothlib.data import c2s
from clothlib.hashing import features as features_module
from clothlib.hashing import losses, models
from clothlib.hashing.train import (HashingConfig, encode, evaluate_checkpoint, forward_views, load_checkpoint,
                                   load_split_data, train)


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
            rule = c2s.pair_label(a, b, "instance")
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
        assert c2s.NA not in models.task_values(task)
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
    assert json.loads(out.with_suffix(".test.metrics.json").read_text())["top20"] == metrics["top20"]

    export = encode(out, "test", tmp_path / "codes", progress=False)
    items = (export / "query_items.txt").read_text().split()
    codes = np.load(export / "query_codes.npy")
    assert codes.dtype == np.uint8 and codes.shape == (len(items), 2)
    assert np.load(export / "gallery_features.npy").shape == (len(items), config.hidden)
    assert items == (export / "gallery_items.txt").read_text().split()
    assert json.loads((export / "export.json").read_text())["bits"] == 16
    # big-endian packing of the sign of the relaxed codes
    relaxed = forward_views(model, load_split_data(config, "test", progress=False))["consumer"]["codes"]
    assert np.array_equal(np.unpackbits(codes, axis=1, bitorder="big")[:, :16], relaxed.numpy() >= 0)


def test_unreadable_view_names_the_file(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="broken.jpg.*build_c2s"):
        features_module.read_view(bad)


def test_parsing_backbone_features_are_keyed_by_the_checkpoint_they_came_from(small_set, tmp_path, monkeypatch):
    folder = small_set[0]
    monkeypatch.setattr(features_module, "settings", dataclasses.replace(features_module.settings,
                                                                        checkpoint_dir=tmp_path, cache_dir=tmp_path))
    (tmp_path / features_module.PARSING_CHECKPOINT).write_bytes(b"first release")
    before = features_module.cache_path(folder, "parsing", "train")
    assert features_module.cache_path(folder, "imagenet", "train") != before
    (tmp_path / features_module.PARSING_CHECKPOINT).write_bytes(b"retrained")
    assert features_module.cache_path(folder, "parsing", "train") != before, "stale features of the old network"
