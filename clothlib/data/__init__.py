"""CCP reading, the 13-class table, splits, torch datasets and the dataset download."""
from .ccp import (
    CorruptFileError,
    DatasetMissingError,
    annotated_ids,
    check_dataset,
    class_lookup,
    label_counts,
    label_names,
    read_class_mask,
    read_groundtruth,
    read_photo,
    read_tags,
    tag_counts,
    tagged_ids,
)
from .classes import (
    BACKGROUND_CLASSES,
    CLASS_GROUPS,
    CLASSES,
    GARMENT_CLASSES,
    IGNORE_INDEX,
    NUM_CLASSES,
    ccp_to_class,
    export_classes,
    merge_counts,
    relabel,
)
from .splits import SPLITS, load_split, make_splits

_TORCH_NAMES = ("CCPParsing", "eval_transform", "train_transform")


def __getattr__(name: str):
    """Import the torch datasets on first use, so the download CLI starts without loading torch."""
    if name in _TORCH_NAMES:
        from . import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
