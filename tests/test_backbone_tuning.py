"""The backbone's last stage tuned from cached activations: the loss, the split forward pass against the
whole one, BatchNorm kept frozen, the release loaded as the ``tuned`` backbone (a real, tiny run on
views cut from CCP photos)."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from clothlib import harness
from clothlib.data import c2s
from clothlib.data.images import read_view
from clothlib.hashing import backbone_tuning as tuning
from clothlib.hashing import features as features_module
from clothlib.hashing.__main__ import main
from clothlib.hashing.losses import instance_contrastive_loss


def test_contrastive_loss_is_minus_the_log_softmax_mass_on_the_positives():
    consumer = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    shop = torch.tensor([[1.0, 0.1], [0.2, 1.0], [-1.0, 0.5]])
    ids = np.array(["a", "b", "a"])  # items 0 and 2 show one garment: each has two positives
    loss = instance_contrastive_loss(consumer, shop, ids, temperature=0.5)
    c = torch.nn.functional.normalize(consumer, dim=1)
    s = torch.nn.functional.normalize(shop, dim=1)
    logits = (c @ s.T / 0.5).tolist()
    positive = ids[:, None] == ids[None, :]

    def one_way(rows, mask):
        return np.mean([-math.log(sum(math.exp(v) for v, p in zip(r, m) if p) / sum(math.exp(v) for v in r))
                        for r, m in zip(rows, mask)])

    expected = (one_way(logits, positive) + one_way(np.array(logits).T.tolist(), positive.T)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    # matched pairs far from the rest: the loss goes to zero; swapped: it grows
    eye = torch.eye(3) * 10
    assert instance_contrastive_loss(eye, eye, np.array(["a", "b", "c"]), 0.01).item() < 1e-6
    assert instance_contrastive_loss(eye, eye.flip(0), np.array(["a", "b", "c"]), 0.01).item() > 10


def test_frozen_part_then_tuned_stage_is_the_whole_backbone(cache_in):
    """The split forward pass (cached activations, then the tuned blocks) is the function the whole
    backbone computes, so features used in training and at query time agree."""
    whole = features_module.Backbone("imagenet")
    stage = tuning.TunedStage(first_block=11, embedding=8).eval()
    views = torch.from_numpy(np.stack([read_view(p) for p in sorted(cache_in.rglob("*.jpg"))[:6]]))
    maps, fixed = tuning.frozen_part(whole.network, views, 11)
    assert maps.shape[1:] == (112, views.shape[1] // 16, views.shape[2] // 16)
    with torch.no_grad():
        assert torch.allclose(stage.features(maps, fixed), whole(views), atol=1e-5)
        # the cache keeps maps in float16: the features move by far less than they differ between views
        halved = stage.features(maps.half(), fixed)
    assert (halved - whole(views)).abs().max() < 0.02 * whole(views).std()


def test_tuning_trains_the_blocks_keeps_batchnorm_statistics_and_loads_as_the_tuned_backbone(cache_in, tmp_path,
                                                                                             monkeypatch):
    monkeypatch.setattr(tuning, "settings", dataclasses.replace(tuning.settings, cache_dir=tmp_path / "cache"))
    monkeypatch.setattr(features_module, "settings", dataclasses.replace(
        features_module.settings, checkpoint_dir=tmp_path, cache_dir=tmp_path / "cache"))
    with pytest.raises(harness.MissingCheckpointError, match="tune-backbone"):
        features_module.Backbone("tuned")
    with pytest.raises(harness.MissingCheckpointError, match="tune-backbone"):
        features_module.split_features(cache_in, "val", "tuned", progress=False)

    config = tuning.TuningConfig(epochs=2, batch_size=8, lr=1e-3, c2s=str(cache_in))
    untuned = tuning.TunedStage(config.first_block, config.embedding)
    main(["tune-backbone", "--epochs", "2", "--batch-size", "8", "--lr", "1e-3", "--c2s", str(cache_in),
          "--out", str(tmp_path / features_module.TUNED_CHECKPOINT), "--quiet"])
    checkpoint = torch.load(tmp_path / features_module.TUNED_CHECKPOINT, weights_only=True)
    assert checkpoint["kind"] == "backbone" and checkpoint["config"] == config.to_dict()
    assert len(checkpoint["history"]) == 2 and "feature_top20" in checkpoint["before_tuning"]
    assert checkpoint["supervision"].startswith("instance IDs")

    tuned = features_module.Backbone("tuned").network
    imagenet = features_module.Backbone("imagenet").network
    before, after = imagenet.state_dict(), tuned.state_dict()
    for key, value in after.items():
        index = int(key.split(".")[1]) if key.startswith("blocks.") else -1
        if "running_" in key or index < config.first_block:
            # must stay ImageNet's (tuned blocks' statistics went through the fp16 release: up to its rounding)
            assert torch.allclose(value.float(), before[key].float(), rtol=2e-3, atol=1e-3), f"{key} moved"
    moved = [key for key in after if key.startswith("blocks.15.") and key.endswith("conv.weight")
             and not torch.allclose(after[key], before[key], atol=1e-3)]
    assert moved, "the tuned blocks learnt nothing"
    assert all(torch.equal(untuned.state_dict()[k], before[k]) for k in untuned.state_dict() if k.startswith("blocks."))

    # the tuned backbone's features are keyed by its file and computed by the whole network
    feats = features_module.split_features(cache_in, "val", "tuned", progress=False)
    paths = {name: features_module.cache_path(cache_in, name, "val") for name in ("tuned", "imagenet")}
    assert paths["tuned"] != paths["imagenet"]
    plain = features_module.split_features(cache_in, "val", "imagenet", progress=False)
    assert not np.allclose(feats["consumer"][..., -320:], plain["consumer"][..., -320:], atol=1e-3)
    assert np.allclose(feats["consumer"][..., :-320], plain["consumer"][..., :-320], atol=1e-5), \
        "strides 8 and 16 come from untouched blocks"


def test_a_bad_first_block_is_refused():
    with pytest.raises(ValueError, match="first_block"):
        tuning.TuningConfig(first_block=16)
    with pytest.raises(ValueError, match="protocol"):
        tuning.TuningConfig(protocol="category")


def test_a_tuning_without_out_goes_to_the_cache_not_the_checkpoints(cache_in, tmp_path, monkeypatch):
    monkeypatch.setattr(tuning, "settings", dataclasses.replace(tuning.settings, cache_dir=tmp_path / "cache"))
    monkeypatch.setattr(harness, "settings", dataclasses.replace(harness.settings, cache_dir=tmp_path / "cache"))
    config = tuning.TuningConfig(epochs=1, batch_size=4, c2s=str(cache_in), max_items=8)
    path = tuning.tune_backbone(config, progress=False)
    assert path == harness.cached_run_path("backbone_tuned", config, c2s.load_meta(cache_in)["config"])
    assert path.exists()
    assert path.is_relative_to(tmp_path / "cache")
