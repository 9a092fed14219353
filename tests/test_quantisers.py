"""The hash layer's quantisers: sign with a straight-through gradient, ITQ's rotation as a layer, and
the comparison that trains the same config with each (a real, tiny run on views cut from CCP photos)."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from clothlib import harness
from clothlib.data import c2s
from clothlib.hashing import HashingConfig, load_checkpoint, load_split_data, models, train
from clothlib.hashing import config as config_module
from clothlib.hashing.__main__ import main
from clothlib.hashing.ablation import ABLATION, ablation, compare_quantisers, comparison_run
from clothlib.hashing.quantisers import KINDS, QUANTISERS, Quantiser, Rotation, StraightThroughSign, quantiser_for
from clothlib.retrieval import binarize, pack_codes


def test_straight_through_sign_is_plus_minus_one_forward_and_hardtanh_backward():
    x = torch.tensor([-2.0, -0.5, 0.0, 0.3, 1.5], requires_grad=True)
    y = StraightThroughSign()(x)
    assert y.tolist() == [-1.0, -1.0, 1.0, 1.0, 1.0], "0 goes to +1, as packing codes >= 0 does"
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0], "gradient 1 inside [-1, 1], 0 outside"


def test_rotation_is_orthogonal_and_rounds_with_less_loss_than_no_rotation():
    rng = np.random.default_rng(0)
    # correlated codes: a random rotation of points near a few corners, so the axes are a poor fit
    corners = np.sign(rng.standard_normal((8, 16)))
    codes = corners[rng.integers(0, 8, 600)] * 0.6 + 0.2 * rng.standard_normal((600, 16))
    mixed = codes @ np.linalg.qr(rng.standard_normal((16, 16)))[0]
    layer = Rotation(16)
    assert torch.equal(layer(torch.ones(2, 16)), torch.ones(2, 16)), "the identity before fitting"
    layer.fit(mixed)
    matrix = layer.matrix.double().numpy()
    assert np.allclose(matrix @ matrix.T, np.eye(16), atol=1e-5)

    def rounding_loss(rotated):
        return float(((np.sign(rotated) - rotated) ** 2).sum())

    rotated = layer(torch.from_numpy(mixed).float()).double().numpy()
    assert rounding_loss(rotated) < 0.8 * rounding_loss(mixed - mixed.mean(0))


def test_unknown_quantisers_are_refused_and_only_tanh_is_regularised():
    with pytest.raises(ValueError, match="choose one of"):
        HashingConfig(quantiser="round")
    with pytest.raises(ValueError, match=r"unknown quantiser 'round'; choose one of \('tanh', 'sign_ste', 'itq'\)"):
        quantiser_for("round")
    assert HashingConfig(quantiser="tanh").regulariser_weight == HashingConfig().alpha > 0
    assert [HashingConfig(quantiser=name).regulariser_weight for name in ("itq", "sign_ste")] == [0, 0]
    # a checkpoint written before the field existed trained the paper's tanh units; new ones say which
    assert HashingConfig().quantiser == "sign_ste"
    old = {k: v for k, v in HashingConfig().to_dict().items() if k != "quantiser"}
    assert HashingConfig.from_dict(old).quantiser == "tanh"
    assert HashingConfig.from_dict(HashingConfig().to_dict()) == HashingConfig()
    # the shipped checkpoints predate the field: their hash layer's weights keep their names
    assert set(models.HashingNet("simnet", 32, 16, hidden=8).state_dict()) == {
        "trunk.0.weight", "trunk.0.bias", "trunk.1.weight", "trunk.1.bias", "trunk.1.running_mean",
        "trunk.1.running_var", "trunk.1.num_batches_tracked", "trunk.4.weight", "trunk.4.bias", "trunk.5.weight",
        "trunk.5.bias", "trunk.5.running_mean", "trunk.5.running_var", "trunk.5.num_batches_tracked",
        "hash.0.weight", "hash.0.bias"}


def test_each_config_string_names_exactly_one_quantiser_class():
    assert tuple(KINDS) == tuple(QUANTISERS) == ("tanh", "sign_ste", "itq")
    assert len(set(KINDS.values())) == len(KINDS) and all(issubclass(kind, Quantiser) for kind in KINDS.values())
    for name, kind in KINDS.items():
        assert kind.name == name and QUANTISERS[name] == kind.description
        assert type(quantiser_for(name)) is kind
        assert type(models.HashingNet("simnet", 32, 16, hidden=8, quantiser=name).quantiser) is kind
    assert [name for name, kind in KINDS.items() if kind.fits] == ["itq"], "only ITQ learns a step after training"
    with pytest.raises(TypeError, match="'sign_ste' quantiser learns nothing after training"):
        quantiser_for("sign_ste").fit(quantiser_for("sign_ste").layer(8, 16), torch.zeros(4, 8))


@pytest.mark.parametrize("quantiser", tuple(KINDS))
def test_codes_are_the_signs_of_the_relaxed_output_with_zero_setting_the_bit(quantiser):
    torch.manual_seed(0)
    model = models.HashingNet("catt_net", 32, 16, hidden=8, quantiser=quantiser)
    with torch.no_grad():
        model.hash[0].weight[0] = 0  # bit 0's output is exactly 0 for every input: the tie
        model.hash[0].bias[0] = 0
    x = torch.randn(40, 32)
    model.train()
    packed = model.codes(x)
    assert model.training, "codes() leaves the module's mode as it was"
    with torch.no_grad():
        out = model.eval()(x)
    relaxed = out["relaxed"].numpy()
    assert (relaxed[:, 0] == 0).all()
    assert np.array_equal(packed, pack_codes(binarize(relaxed))) and packed.shape == (40, 2)
    assert np.array_equal(packed, pack_codes(binarize(out["codes"].numpy()))), "codes and relaxed share their signs"
    assert (packed[:, 0] >= 0x80).all(), "an output of exactly 0 sets its bit"
    assert len({row.tobytes() for row in packed}) > 1


@pytest.mark.parametrize("quantiser", ["sign_ste", "itq"])
def test_each_quantiser_trains_releases_and_codes_are_what_it_makes(cache_in, tmp_path, quantiser):
    config = HashingConfig(bits=16, epochs=1, batch_size=8, c2s=str(cache_in), quantiser=quantiser)
    model, loaded, _ = load_checkpoint(train(config, tmp_path / "run.pt", progress=False))
    assert loaded == config
    val = load_split_data(config, "val", progress=False)
    codes = model(val.consumer[:, 0])["codes"]
    if quantiser == "sign_ste":
        assert set(codes.unique().tolist()) <= {-1.0, 1.0}
    else:  # the released rotation is orthogonal and rounds the training split's codes with less loss than none
        rotation = model.hash[-1]
        matrix = rotation.matrix.double()
        assert torch.allclose(matrix @ matrix.T, torch.eye(16, dtype=torch.float64), atol=5e-3)  # fp16 in the file
        assert not torch.allclose(matrix, torch.eye(16, dtype=torch.float64), atol=0.05), "fitted, not the identity"
        train_split = load_split_data(config, "train", progress=False)
        with torch.no_grad():
            unrotated = torch.cat([model.hash[:-1](model.trunk(view[:, 0])) for view in (train_split.consumer,
                                                                                         train_split.shop)])
        rotated = rotation(unrotated)
        centred = unrotated - unrotated.mean(0)
        assert ((rotated.sign() - rotated) ** 2).sum() < ((centred.sign() - centred) ** 2).sum()


def test_compare_quantisers_trains_each_into_the_cache_and_the_command_saves(cache_in, tmp_path, monkeypatch):
    monkeypatch.setattr(config_module, "settings", dataclasses.replace(config_module.settings, checkpoint_dir=tmp_path))
    monkeypatch.setattr(harness, "settings", dataclasses.replace(harness.settings, cache_dir=tmp_path / "cache"))
    config = HashingConfig(bits=16, epochs=1, batch_size=8, c2s=str(cache_in))
    result = compare_quantisers(config, progress=False)
    assert set(result["rows"]) == set(QUANTISERS) and result["split"] == "val"
    assert result["train_items"] == c2s.load_meta(cache_in)["counts"]["by_split"]["train"] > 0
    for name, row in result["rows"].items():
        assert 0 <= row["hamming_top1"] <= row["hamming_top20"] <= 100 and 0 <= row["float_top20"] <= 100
        assert row["kept_of_float_top20"] == pytest.approx(100 * row["hamming_top20"] / row["float_top20"], abs=1e-3)
        assert row["train_seconds"] > 0 and not row["shipped"], name
        assert row["checkpoint"].startswith("hash_catt3_net_16_"), "trained into the cache, named by config digest"
    assert not list(tmp_path.glob("*.json")), "comparing must not write: the command line saves"
    # a second comparison finds the runs again (nothing trains); the command writes the same rows
    monkeypatch.setattr(harness, "train_run", lambda *a, **k: pytest.fail("trained again"))
    main(["compare-quantisers", "--bits", "16", "--epochs", "1", "--batch-size", "8", "--c2s", str(cache_in),
          "--quiet"])
    saved = json.loads((tmp_path / "hash_catt3_net_16.quantisers.val.json").read_text())
    assert saved["rows"] == json.loads(json.dumps(result["rows"]))


def test_a_shipped_run_counts_only_for_the_same_config_on_the_same_set(cache_in, tmp_path, monkeypatch):
    """The bug this pins: a shipped checkpoint trained on another consumer-to-shop build (the shipped
    runs' set has pseudo-labelled items a fresh clone's lacks) stood in for the comparison's own run."""
    monkeypatch.setattr(config_module, "settings", dataclasses.replace(config_module.settings, checkpoint_dir=tmp_path))
    monkeypatch.setattr(harness, "settings", dataclasses.replace(harness.settings, cache_dir=tmp_path / "cache"))
    config = HashingConfig(bits=16, epochs=1, batch_size=8, c2s=str(cache_in))
    shipped = train(config, tmp_path / "hash_catt3_net_16.pt", progress=False)
    assert comparison_run(config) == (str(shipped), True)
    checkpoint = torch.load(shipped, weights_only=True)
    checkpoint["c2s_config"] = {**checkpoint["c2s_config"], "pseudo_photos": 1094}
    torch.save(checkpoint, shipped)
    cached = harness.cached_run_path(config.name, config, c2s.load_meta(cache_in)["config"])
    assert comparison_run(config) == (str(cached), False)


def test_the_ablation_keeps_each_change_and_the_command_saves(cache_in, tmp_path, monkeypatch):
    monkeypatch.setattr(config_module, "settings", dataclasses.replace(config_module.settings, checkpoint_dir=tmp_path))
    monkeypatch.setattr(harness, "settings", dataclasses.replace(harness.settings, cache_dir=tmp_path / "cache"))
    assert ABLATION[0][1] == {"quantiser": "tanh", "backbone": "imagenet"}, "the paper's network comes first"
    steps = (("paper", {"quantiser": "tanh", "bits": 16}), ("sign", {"quantiser": "sign_ste"}), ("wider", {"bits": 32}))
    config = HashingConfig(epochs=1, batch_size=8, c2s=str(cache_in))
    result = ablation(config, steps, progress=False)
    assert [row["changes"] for row in result["rows"]] == [
        {"quantiser": "tanh", "bits": 16}, {"quantiser": "sign_ste", "bits": 16}, {"quantiser": "sign_ste", "bits": 32}]
    assert [row["checkpoint"][:len("hash_catt3_net_16")] for row in result["rows"]] == \
        ["hash_catt3_net_16", "hash_catt3_net_16", "hash_catt3_net_32"]
    assert "quantiser" not in result["config"] and "bits" not in result["config"] and result["config"]["epochs"] == 1
    for row in result["rows"]:
        assert 0 <= row["category_acc"] <= row["category_top3_acc"] <= 100
    assert not list(tmp_path.glob("*.json")), "the ablation must not write: the command line saves"
    monkeypatch.setattr(harness, "train_run", lambda *a, **k: pytest.fail("trained again"))
    assert ablation(config, steps, progress=False)["rows"] == result["rows"], "runs are found again in the cache"
