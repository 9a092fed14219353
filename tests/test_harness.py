"""The run harness shared by parsing and hashing: configs, cache keys, missing checkpoints, release."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import pytest
import torch

from clothlib import harness
from clothlib.harness import MissingCheckpointError, RunConfig


@dataclass(frozen=True)
class ToyConfig(RunConfig):
    epochs: int = 2
    seed: int = 0
    size: tuple[int, int] = (3, 2)
    lr: float = 0.1


def _toy_run(config: ToyConfig, out, data_key=None):
    torch.manual_seed(config.seed)
    model = torch.nn.Linear(*config.size)
    data = torch.utils.data.TensorDataset(torch.randn(16, config.size[0]), torch.randn(16, config.size[1]))
    loader = torch.utils.data.DataLoader(data, batch_size=4, shuffle=True)

    def step(model, batch):
        x, y = batch
        return torch.nn.functional.mse_loss(model(x), y), {}

    return harness.train_run(config, out, kind="toy", model=model, loader=loader,
                             optimizer=torch.optim.SGD(model.parameters(), lr=config.lr), step=step,
                             validate=None, desc="toy", data=data_key, note="hello")


def _toy_load(path):
    return harness.load_run(path, "toy", ToyConfig, lambda config, _: torch.nn.Linear(*config.size),
                            "python make_toy.py")


def test_from_dict_restores_tuples_and_ignores_unknown_keys():
    config = ToyConfig(size=(4, 1))
    values = json.loads(json.dumps({**config.to_dict(), "removed_field": 1}))
    assert values["size"] == [4, 1]
    assert ToyConfig.from_dict(values) == config


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ToyConfig().epochs = 3


def test_digest_tells_configs_apart():
    assert ToyConfig().digest() == ToyConfig().digest()
    assert ToyConfig(epochs=1).digest() != ToyConfig(epochs=2).digest()


def test_fast_and_default_runs_never_share_a_cache_file():
    """The bug this pins: a fast-mode fallback cached under the bare model name was reused in
    default mode. Sizes differ, so the files must too."""
    fast, default = ToyConfig(epochs=1), ToyConfig(epochs=30)
    assert harness.cached_run_path("net1", fast) != harness.cached_run_path("net1", default)
    assert harness.cached_run_path("net1", fast).name.startswith("net1_")


def test_missing_checkpoint_names_the_command_and_trains_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(harness, "settings", dataclasses.replace(harness.settings, cache_dir=tmp_path / "cache"))
    trained = []
    with pytest.raises(MissingCheckpointError, match="bash make_it.sh") as err:
        harness.load_or_train(tmp_path / "net1.pt", ToyConfig(), load=_toy_load, train=lambda *a: trained.append(a),
                              command="bash make_it.sh")
    assert "train_if_missing=True" in str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    assert not trained and not (tmp_path / "cache").exists()


def test_train_if_missing_trains_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(harness, "settings", dataclasses.replace(harness.settings, cache_dir=tmp_path / "cache"))
    calls = []

    def train(config, out):
        calls.append(out)
        return _toy_run(config, out)

    first = harness.load_or_train(tmp_path / "toy.pt", ToyConfig(), load=_toy_load, train=train,
                                  command="x", train_if_missing=True)
    second = harness.load_or_train(tmp_path / "toy.pt", ToyConfig(), load=_toy_load, train=train,
                                   command="x", train_if_missing=False)
    assert len(calls) == 1 and calls[0] == harness.cached_run_path("toy", ToyConfig())
    assert first[2]["path"] == second[2]["path"] == calls[0]


def test_release_round_trip(tmp_path):
    out = _toy_run(ToyConfig(), tmp_path / "toy.pt")
    model, config, checkpoint = _toy_load(out)
    assert config == ToyConfig() and checkpoint["note"] == "hello" and len(checkpoint["history"]) == 2
    assert json.loads(harness.curve_path(out).read_text()) == checkpoint["history"]
    assert harness.state_path(out).exists()
    with pytest.raises(MissingCheckpointError, match="python make_toy.py"):
        _toy_load(tmp_path / "absent.pt")


def test_a_run_resumes_and_caches_only_on_the_data_it_was_trained_on(tmp_path):
    """The bug: train on a consumer-to-shop build, rebuild it smaller, re-run the same command: it
    resumed after the last epoch and re-released the old weights stamped with the new set."""
    out = _toy_run(ToyConfig(), tmp_path / "toy.pt", data_key={"photos": 30})
    assert _toy_run(ToyConfig(), out, data_key={"photos": 30}) == out, "the same data resumes (here: nothing left)"
    with pytest.raises(ValueError, match="toy.state.pt was written by a run with another configuration or other data"):
        _toy_run(ToyConfig(), out, data_key={"photos": 25})
    assert harness.cached_run_path("toy", ToyConfig(), {"photos": 30}) != \
        harness.cached_run_path("toy", ToyConfig(), {"photos": 25}) != harness.cached_run_path("toy", ToyConfig())
