"""Bad arguments are refused while parsing, before any work: counts of 0 or less, an ``--out`` that is
a folder, an output place that cannot be written (a read-only checkpoints folder), a predictions
folder missing photos. Each command's work function is replaced by one that fails the test if it is
ever reached. And a read-only dataset folder sends the derived consumer-to-shop set to the cache."""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clothlib.cli import check_output, whole_number
from clothlib.data import c2s
from clothlib.hashing import __main__ as hashing_cli
from clothlib.parsing import __main__ as parsing_cli

REPO = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "data_scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _never(*args, **kwargs):
    raise AssertionError("the command started its work despite a bad argument")


def _refused(main, argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


@pytest.fixture
def read_only(tmp_path):
    """A folder holding ``net.pt`` that this process cannot write: by its mode, or (for root, whom modes
    do not stop) by a read-only bind mount."""
    folder = tmp_path / "shared_checkpoints"
    folder.mkdir()
    (folder / "net.pt").write_bytes(b"not used")
    folder.chmod(0o555)
    mounted = False
    if os.access(folder, os.W_OK):
        mounted = subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)],
                                 capture_output=True).returncode == 0
        if not mounted:
            folder.chmod(0o755)
            pytest.skip("running as root without the right to mount: no way to make a read-only folder")
    yield folder
    if mounted:
        subprocess.run(["umount", str(folder)], check=True)
    folder.chmod(0o755)


@pytest.mark.parametrize("epochs", ["0", "-3", "two"])
def test_train_refuses_epochs_that_would_release_an_untrained_network(monkeypatch, capsys, tmp_path, epochs):
    monkeypatch.setattr(parsing_cli, "train", _never)
    monkeypatch.setattr(hashing_cli, "train", _never)
    out = str(tmp_path / "net.pt")
    assert "argument --epochs" in _refused(parsing_cli.main, ["train", "--epochs", epochs, "--out", out], capsys)
    assert "argument --epochs" in _refused(hashing_cli.main, ["train", "--epochs", epochs, "--out", out], capsys)


def test_counts_that_mean_nothing_are_refused_but_a_seed_or_loader_workers_may_be_zero(monkeypatch, capsys,
                                                                                        tmp_path):
    monkeypatch.setattr(parsing_cli, "evaluate_checkpoint", _never)
    monkeypatch.setattr(parsing_cli, "search_crf", _never)
    err = _refused(parsing_cli.main, ["evaluate", "--checkpoint", "x.pt", "--max-photos", "0"], capsys)
    assert "argument --max-photos: 0 is too small: give 1 or more" in err
    assert "--workers" in _refused(parsing_cli.main, ["crf-search", "--checkpoint", "x.pt", "--workers", "0"], capsys)
    assert "--batch-size" in _refused(parsing_cli.main, ["train", "--batch-size", "0", "--out", "x.pt"], capsys)
    calls = []
    monkeypatch.setattr(parsing_cli, "train", lambda config, out: calls.append(config) or out)
    parsing_cli.main(["train", "--seed", "0", "--workers", "0", "--out", str(tmp_path / "net.pt")])
    assert (calls[0].seed, calls[0].workers) == (0, 0)


@pytest.mark.parametrize("flag, value", [("--max-photos", "0"), ("--max-photos", "-1"), ("--workers", "0")])
def test_build_c2s_refuses_an_empty_or_negative_count(monkeypatch, capsys, flag, value):
    script = _script("build_c2s")
    monkeypatch.setattr(script, "build_c2s", _never)
    assert f"argument {flag}" in _refused(script.main, [flag, value], capsys)


def test_an_out_that_is_a_folder_is_refused_before_training(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(parsing_cli, "train", _never)
    assert "is a folder" in _refused(parsing_cli.main, ["train", "--epochs", "1", "--out", str(tmp_path)], capsys)


def test_evaluate_beside_a_read_only_checkpoint_fails_before_computing(monkeypatch, capsys, read_only):
    monkeypatch.setattr(hashing_cli, "evaluate_checkpoint", _never)
    err = _refused(hashing_cli.main, ["evaluate", "--checkpoint", str(read_only / "net.pt")], capsys)
    assert f"{read_only} is not writable" in err
    assert "--out FILE" in err and "CLOTHLIB_CHECKPOINTS" in err
    monkeypatch.setattr(hashing_cli, "encode", _never)
    err = _refused(hashing_cli.main, ["encode", "--checkpoint", "x.pt", "--out", str(read_only / "codes")], capsys)
    assert "not writable" in err and "CLOTHLIB_CACHE" in err


def test_whole_number_and_a_writable_output_pass_and_the_probe_leaves_nothing(tmp_path):
    assert whole_number(0)("0") == 0 and whole_number()("12") == 12
    import argparse
    parser = argparse.ArgumentParser()
    assert check_output(parser, tmp_path / "new" / "deeper" / "out.json", "--out") == tmp_path / "new/deeper/out.json"
    assert check_output(parser, tmp_path, "--out", folder=True) == tmp_path
    assert list(tmp_path.iterdir()) == []  # nothing made, no probe left


def test_a_partial_predictions_folder_is_named_with_the_count_and_the_command(ccp_root, tmp_path, capsys):
    predictions = tmp_path / "predictions"
    predictions.mkdir()
    first = c2s.tagged_ids()[0]
    shape = c2s.read_photo(first).shape[:2]
    Image.fromarray(np.zeros(shape, np.uint8)).save(predictions / f"{first}.png")
    script = _script("build_c2s")
    argv = ["--out", str(tmp_path / "c2s"), "--max-photos", "3", "--workers", "1", "--quiet"]
    with pytest.raises(SystemExit) as exit_info:
        script.main([*argv, "--predictions", str(predictions)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and not (tmp_path / "c2s").exists()
    assert "1 of the 3 tag-only photos; 2 are missing" in err and "clothlib.parsing predict" in err
    assert "--max-photos 3" in err and "--partial-predictions" in err
    assert script.main([*argv, "--predictions", str(predictions), "--partial-predictions"]) == 0
    assert c2s.load_meta(tmp_path / "c2s")["counts"]["pseudo"]["photos"] == 1


def test_a_read_only_dataset_folder_puts_the_consumer_to_shop_set_in_the_cache(monkeypatch, read_only, tmp_path):
    settings = dataclasses.replace(c2s.settings, data_root=read_only / "ccp", cache_dir=tmp_path / "cache")
    monkeypatch.setattr(c2s, "settings", settings)
    assert c2s.default_folder() == tmp_path / "cache" / "c2s"
    writable = dataclasses.replace(settings, data_root=tmp_path / "data" / "ccp")
    (tmp_path / "data").mkdir()
    monkeypatch.setattr(c2s, "settings", writable)
    assert c2s.default_folder() == tmp_path / "data" / "c2s"
