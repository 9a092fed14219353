"""CLOTHLIB_DEVICE: how a name resolves, and that no stage silently stays on the CPU when another
device is asked for.

Each stage test asks for a device (``meta`` here: tensors with shapes and no data, which every
machine has; and ``cuda`` too where PyTorch sees a GPU), runs the stage through its public entry
point and stops it at the first module called (a global forward pre-hook raises :class:`Reached`),
after asserting that the module's weights and every tensor it was given are on that device. A
stage that left its model or its batch on the CPU fails there; stopping at once keeps each test
to a second or so and leaves no file behind.
"""
from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import pytest
import torch

from clothlib import devices
from clothlib.config import Settings, settings

DEVICES = ["meta"] + (["cuda"] if torch.cuda.is_available() else [])


class Reached(Exception):
    """A stage's first module call was reached with everything on the requested device."""


@pytest.fixture(params=DEVICES)
def device(request, monkeypatch) -> torch.device:
    """The settings ask for ``request.param`` (CLOTHLIB_DEVICE), for the length of one test."""
    monkeypatch.setattr(devices, "settings", dataclasses.replace(devices.settings, device=request.param))
    return torch.device(request.param)


def _tensors(value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


@contextlib.contextmanager
def first_call_on(device: torch.device, stop=lambda module: True):
    """Every call of a module with weights checks its weights, buffers and inputs are on ``device``;
    the first for which ``stop(module)`` holds raises :class:`Reached` (the test expects it). Modules
    without weights (torchvision's transforms in the loader's workers, activations) are let be."""
    def hook(module, args):
        name = type(module).__name__
        state = [*module.named_parameters(), *module.named_buffers()]
        if not state:
            return
        for label, tensor in state:
            assert tensor.device.type == device.type, f"{name}.{label} is on {tensor.device}, not {device}"
        for tensor in _tensors(args):
            assert tensor.device.type == device.type, f"{name} was given a {tuple(tensor.shape)} tensor on " \
                                                      f"{tensor.device}, not {device}"
        if stop(module):
            raise Reached(name)

    handle = torch.nn.modules.module.register_module_forward_pre_hook(hook)
    try:
        with pytest.raises(Reached):
            yield
    finally:
        handle.remove()


# --- resolving a name -------------------------------------------------------------------------------


def test_names_resolve_and_a_wrong_one_says_what_to_choose():
    assert devices.resolve("cpu") == torch.device("cpu")
    assert devices.resolve(" Meta ") == torch.device("meta")
    assert devices.resolve("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    for wrong in ("gpu", "cpu:0", "cuda:x", "meta:1", ""):
        with pytest.raises(ValueError, match="choose one of auto, cpu, cuda, cuda:N, meta"):
            devices.resolve(wrong)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_a_clear_error():
    for name in ("cuda", "cuda:0"):
        with pytest.raises(RuntimeError, match="PyTorch sees none.*'auto'"):
            devices.resolve(name)


def test_the_default_is_the_cpu_and_moves_nothing_there(monkeypatch):
    """The shipped numbers reproduce bit for bit because, on the CPU, every move is the tensor itself."""
    monkeypatch.delenv("CLOTHLIB_DEVICE", raising=False)
    assert Settings.from_env().device == "cpu"
    x = torch.ones(2)
    batch = (x, {"y": x}, [x], 3)
    moved = devices.to_device(batch, torch.device("cpu"))
    assert moved[0] is x and moved[1]["y"] is x and moved[2][0] is x and moved[3] == 3
    assert devices.to_cpu(x) is x
    assert devices.loader_options(torch.device("cpu"), 1) == {"num_workers": 1, "pin_memory": False}
    assert devices.cache_tag(torch.device("cpu")) == []
    assert devices.of(torch.nn.Linear(1, 1)) == devices.of(torch.nn.ReLU()) == torch.device("cpu")


def test_a_gpu_loader_pins_memory_and_uses_workers():
    options = devices.loader_options(torch.device("cuda"), 0)
    assert options["pin_memory"] and options["num_workers"] >= 1
    assert devices.cache_tag(torch.device("cuda")) == ["cuda"]


# --- every stage on the requested device -------------------------------------------------------------


def test_parsing_training_sends_model_and_batches_to_the_device(device, ccp_root, tmp_path):
    from clothlib.parsing import ParsingConfig
    from clothlib.parsing.training import train

    config = ParsingConfig(model="net1", epochs=1, batch_size=2, max_photos=2, workers=0, crop=(64, 64),
                           base_height=96, eval_height=96)
    with first_call_on(device):
        train(config, tmp_path / "net1.pt", progress=False)
    assert not (tmp_path / "net1.pt").exists()


def test_parsing_inference_runs_on_the_device(device, ccp_root):
    from clothlib.data import read_photo
    from clothlib.data.splits import load_split
    from clothlib.parsing import load_checkpoint, predict_scores

    model, config, _ = load_checkpoint(settings.checkpoint_dir / "effnet_fcn.pt")
    assert devices.of(model).type == device.type, "a loaded checkpoint goes to the settings' device"
    with first_call_on(device):
        predict_scores(model, read_photo(load_split("test")[0]), config.eval_height)


def test_predicting_a_split_for_the_crf_runs_the_network_on_the_device(device, ccp_root):
    from clothlib.parsing.predict import predict_split

    with first_call_on(device):
        next(iter(predict_split(settings.checkpoint_dir / "effnet_fcn.pt", "test", max_photos=1, crf=True,
                                progress=False)))


def test_backbone_features_are_computed_on_the_device(device, cache_in):
    from clothlib.hashing.features import Backbone, split_features

    with first_call_on(device, stop=lambda module: isinstance(module, Backbone)):
        split_features(cache_in, "val", "imagenet", progress=False)


def test_backbone_tuning_activations_and_step_run_on_the_device(device, cache_in, monkeypatch, tmp_path):
    from clothlib.hashing import backbone_tuning as tuning

    monkeypatch.setattr(tuning, "settings", dataclasses.replace(tuning.settings, cache_dir=tmp_path))
    with first_call_on(device):  # the frozen part's activations
        tuning.frozen_activations(cache_in, "val", 11, max_items=2, progress=False)
    views = {f"{view}_{part}": torch.zeros(4, 2, *shape).numpy()
             for view in tuning.VIEWS for part, shape in (("maps", (112, 4, 4)), ("fixed", (152,)))}
    ids = np.array(["a", "a", "b", "c"])
    step = tuning._make_step(tuning.TuningConfig(), views, ids)
    model = tuning.TunedStage(11, 8).to(device)
    with first_call_on(device, stop=lambda module: isinstance(module, tuning.TunedStage)):  # a training step
        step(model, (torch.arange(4, device=device),))
    cached = {**views, "item_ids": np.array(["0", "1", "2", "3"])}  # activations as the cache gives them
    monkeypatch.setattr(tuning, "frozen_activations", lambda *args, **kwargs: cached)
    monkeypatch.setattr(tuning, "pair_ids", lambda rows, item_ids, protocol: ids)
    with first_call_on(device):  # the tuned stage goes to the device, with the validation's inputs
        tuning.tune_backbone(tuning.TuningConfig(c2s=str(cache_in), epochs=1, embedding=8), tmp_path / "b.pt",
                             progress=False)


def _split_data(items: int, dim: int = 472):
    """A consumer-to-shop split as :func:`clothlib.hashing.splitdata.load_split_data` gives it (on the
    CPU): features of ``items`` items, two variants each."""
    from clothlib.hashing.splitdata import ALL_TASKS, SplitData

    return SplitData([str(i) for i in range(items)], torch.randn(items, 2, dim), torch.randn(items, 2, dim),
                     np.arange(items) % 3, np.array(["top", "skirt"] * (items // 2)),
                     {task: torch.zeros(items, dtype=torch.long) for task in ALL_TASKS})


def test_hashing_training_runs_on_the_device(device, cache_in, monkeypatch, tmp_path):
    from clothlib.hashing import HashingConfig, training

    monkeypatch.setattr(training, "load_split_data", lambda *args, **kwargs: _split_data(8))
    config = HashingConfig(c2s=str(cache_in), backbone="imagenet", epochs=1, batch_size=4)
    with first_call_on(device):
        training.train(config, tmp_path / "hash.pt", progress=False)


def test_encode_runs_the_network_on_the_device(device, monkeypatch):
    from clothlib.hashing import export

    monkeypatch.setattr(export, "load_split_data", lambda *args, **kwargs: _split_data(4))
    with first_call_on(device):
        export.encode(settings.checkpoint_dir / "hash_catt3_net_48.pt", progress=False)


def test_the_pipeline_runs_every_model_on_the_device(device, ccp_root, monkeypatch):
    from clothlib import pipeline
    from clothlib.data import read_photo
    from clothlib.data.splits import load_split
    from clothlib.hashing import load_checkpoint as load_hashing
    from clothlib.hashing.features import Backbone
    from clothlib.parsing import load_checkpoint as load_parsing

    features = {"item_ids": np.array(["1", "2"]), "shop": torch.randn(2, 1, 472).numpy()}
    monkeypatch.setattr(pipeline, "split_features", lambda *args, **kwargs: features)
    with first_call_on(device):  # the gallery's codes
        pipeline.ClothingRetriever.from_checkpoints(progress=False)
    parser, parser_config, _ = load_parsing(settings.checkpoint_dir / "effnet_fcn.pt")
    hasher, hasher_config, _ = load_hashing(settings.checkpoint_dir / "hash_catt3_net_48.pt")
    retriever = pipeline.ClothingRetriever(parser, parser_config, None, hasher, hasher_config, ["1"],
                                           np.zeros((1, 6), np.uint8), settings.data_root)
    assert {devices.of(m).type for m in (retriever.parser, retriever.backbone, retriever.hasher)} == {device.type}
    with first_call_on(device):  # parsing
        retriever.parse(read_photo(load_split("test")[0]), crf=False)
    with first_call_on(device, stop=lambda module: isinstance(module, Backbone)):  # encoding a garment's view
        retriever.encode([np.zeros((128, 128, 3), np.uint8)])
