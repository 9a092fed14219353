"""The paper's published numbers, transcribed once, so notebooks and README can set ours beside them.

Source: ../shared/paper/seed_paper_zh.txt (Tables 1-5). These are the authors' results on their
data; ours are computed by the course's code on CCP and are never mixed into these tables.
"""
from __future__ import annotations

METRICS = ("overall_acc", "mean_acc", "mean_iu")

# Tables 1-2: net1 / net2 on the CCP test split, Caffe learning rate -> (overall acc, mean acc, mean IU) %.
PARSING_LR_TABLES = {
    "net1": {1e-5: (80.011, 14.028, 9.488), 1e-6: (93.191, 59.697, 49.954), 1e-7: (90.317, 47.886, 40.065),
             1e-8: (88.299, 45.292, 37.696), 1e-9: (87.041, 40.628, 33.300)},
    "net2": {1e-5: (80.176, 14.099, 9.641), 1e-6: (92.693, 57.871, 46.838), 1e-7: (90.096, 51.792, 39.627),
             1e-8: (87.358, 46.145, 35.225), 1e-9: (86.978, 41.082, 31.524)},
}

# Table 3: FCN-CRFs (net1 + dense CRF).
CRF_TABLE = {1e-6: (92.232, 60.197, 49.954), 1e-7: (93.022, 61.804, 47.486)}


def best_parsing_row(model: str) -> tuple[float, tuple[float, float, float]]:
    """The paper's best learning rate (by mean IU) and its metrics for ``net1`` or ``net2``."""
    rate, values = max(PARSING_LR_TABLES[model].items(), key=lambda item: item[1][2])
    return rate, values
