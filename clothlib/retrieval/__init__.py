"""Retrieval: packed hash codes, Hamming search (NumPy or FAISS), two-stage search (a Hamming
shortlist re-ranked by the float query), float and hashing baselines, top-k accuracy and mAP, and
what ties are worth. FAISS is imported only when a :class:`FaissBinary` is made."""
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
    evaluate_two_stage,
    export_files,
    float_rank,
    load_export,
    ranked_examples,
    score_codes,
)
from .metrics import TOP_K, average_precision, mean_average_precision, relevance, retrieval_scores, topk_accuracy
from .rerank import RERANKERS, SHORTLISTS, TwoStage, choose_shortlist, shortlist_scores
from .search import FaissBinary, FloatBruteForce, NumpyHamming
from .ties import bound_ranking, expected_average_precision, expected_topk, tie_aware_scores

__all__ = ["ITQ", "LSH", "RERANKERS", "SHORTLISTS", "TOP_K", "FaissBinary", "FloatBruteForce", "NumpyHamming",
           "TwoStage", "average_precision", "binarize", "bound_ranking", "choose_shortlist", "codes_from_hex",
           "codes_to_hex", "evaluate_baselines", "evaluate_export", "evaluate_two_stage", "expected_average_precision",
           "expected_topk", "export_files", "float_rank", "hamming_distances", "hamming_rank", "load_export",
           "mean_average_precision", "pack_codes", "rank_rows", "ranked_examples", "relevance", "retrieval_scores",
           "score_codes", "shortlist_scores", "tie_aware_scores", "topk_accuracy", "unpack_codes"]
