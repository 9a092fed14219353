"""CCP reading, the 13-class table, splits, torch datasets and the dataset download."""
from .ccp import (CorruptFileError, DatasetMissingError, annotated_ids, check_dataset, class_lookup,
                  label_counts, label_names, read_class_mask, read_groundtruth, read_photo, read_tags,
                  tag_counts, tagged_ids)
from .classes import (BACKGROUND_CLASSES, CLASS_GROUPS, CLASSES, GARMENT_CLASSES, IGNORE_INDEX, NUM_CLASSES,
                      ccp_to_class, export_classes, merge_counts, relabel)
from .dataset import CCPParsing, eval_transform, train_transform
from .splits import SPLITS, load_split, make_splits
