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

# Table 4: test accuracy (%) of the multi-task networks on the authors' own data. Only the tasks
# close to the course's are transcribed (its 17 attribute groups are not ours): category, fine
# category, and the nearest groups to ours, 衣长 (garment length) -> length, 图案 (pattern) -> pattern.
HASHING_TASK_TABLE = {
    "catt_net": {"category": 80.548, "length": 43.104, "pattern": 89.72},
    "catt2_net": {"category": 81.45, "length": 43.17, "pattern": 89.72},
    "catt3_net": {"category": 81.946, "length": 43.362, "pattern": 89.798, "fine_category": 49.118},
}

# Table 5: top-k retrieval accuracy (fractions). The last three rows are other methods' published
# numbers on DeepFashion consumer-to-shop, quoted by the paper, not re-run by its authors.
RETRIEVAL_TOP_K = (1, 5, 10, 20, 50, 100)
RETRIEVAL_TABLE = {
    "hashnet_binary": (0.0272, 0.0513, 0.0657, 0.0647, 0.1156, 0.1476),
    "simnet_binary": (0.0292, 0.0559, 0.0769, 0.0759, 0.1631, 0.2188),
    "DeepFashion (FashionNet)": (0.0775, 0.1210, 0.1504, 0.1805, 0.2230, None),
    "WTBI": (0.0323, 0.0426, 0.0493, 0.0630, 0.0893, None),
    "DARN": (0.0394, 0.0538, 0.0763, 0.1110, 0.1502, None),
}
