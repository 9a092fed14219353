"""Retrieval: packed hash codes, Hamming search (NumPy or FAISS), float and hashing baselines,
top-k accuracy and mAP. FAISS is imported only when a :class:`FaissBinary` is made."""
from .baselines import ITQ, LSH
from .codes import (
    binarize,
    codes_from_hex,
    codes_to_hex,
    hamming_distances,
    hamming_rank,
    pack_codes,
    rank_rows,
    unpack_codes,
)
from .evaluation import (
    evaluate_baselines,
    evaluate_export,
    export_files,
    float_rank,
    load_export,
    ranked_examples,
    score_codes,
)
from .metrics import TOP_K, average_precision, mean_average_precision, relevance, retrieval_scores, topk_accuracy
from .search import FaissBinary, FloatBruteForce, NumpyHamming

__all__ = ["ITQ", "LSH", "TOP_K", "FaissBinary", "FloatBruteForce", "NumpyHamming", "average_precision",
           "binarize", "codes_from_hex", "codes_to_hex", "evaluate_baselines", "evaluate_export", "export_files",
           "float_rank", "hamming_distances", "hamming_rank", "load_export", "mean_average_precision", "pack_codes",
           "rank_rows", "ranked_examples", "relevance", "retrieval_scores", "score_codes", "topk_accuracy",
           "unpack_codes"]
