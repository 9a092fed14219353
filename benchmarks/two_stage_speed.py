"""Two-stage search speed and storage beside plain Hamming and float brute force, on a synthetic
1,000,000-item gallery (48-bit codes, 512-d float32 features: catt3_net 48 bits' sizes).

Per query latency, one query per call, reported as p50 / p95 / max over ``--queries`` queries, and
the mean per query of one batched call. The modes are timed side by side in one run: for every
query each mode runs in turn, so a burst of load from elsewhere on the machine hits all of them
alike. One core (BLAS, OpenMP and FAISS limited to one thread), as ``retrieval_speed.py``.

The shortlist lengths are the ones chosen on the validation split for catt3_net 48 bits (read from
``checkpoints/hash_catt3_net_48.test.retrieval.json``; ``--shortlist R`` overrides both). The
synthetic codes and features are random and seeded: an exhaustive scan costs the same whatever the
values, and re-ranking costs depend only on R. ``FaissBinary`` pads the 6-byte codes with zero bytes
to 8 (same distances) because FAISS scans 8-byte codes with a specialised kernel and 6-byte ones with
a generic one: two extra rows time FAISS's own index on both widths (no tie rule), which is why.

Per mode: ``bytes_per_item``, what the gallery stores (code, plus the float feature for the float
re-ranker), and ``memory_bytes_per_item``, what the search object holds in memory (a FAISS index
keeps its own padded copy of the codes).

    python benchmarks/two_stage_speed.py [--queries 200] [--shortlist R] [--quick]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
from threadpoolctl import threadpool_limits

from clothlib.config import settings
from clothlib.results import artifact_name, artifact_path, load_json, save_json
from clothlib.retrieval import RERANKERS, FaissBinary, FloatBruteForce, NumpyHamming, TwoStage, pack_codes

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = str(artifact_path("benchmark", os.path.join(HERE, "results"), benchmark="two_stage_speed"))
SCORES = artifact_name("retrieval", stem="hash_catt3_net_48", split="test")  # where R was chosen on validation
GALLERY = 1_000_000
QUICK_GALLERY = 20_000
BITS = 48
DIMS = 512
QUERIES = 200
TOP = 100
SEED = 0
PADDED_BYTES = 8  # FAISS has a specialised Hamming kernel for 8-byte codes, none for 6-byte ones


def synthetic(gallery_size: int, queries: int) -> dict:
    """Seeded random gallery codes and features; queries with relaxed codes whose signs are their codes."""
    rng = np.random.default_rng(SEED)
    query_relaxed = np.tanh(rng.standard_normal((queries, BITS)))
    return {"gallery_codes": rng.integers(0, 256, (gallery_size, BITS // 8), dtype=np.uint8),
            "gallery_features": rng.standard_normal((gallery_size, DIMS), dtype=np.float32),
            "query_codes": pack_codes(query_relaxed >= 0), "query_relaxed": query_relaxed,
            "query_features": rng.standard_normal((queries, DIMS), dtype=np.float32)}


def build_modes(data: dict, shortlists: dict[str, int]) -> dict:
    """``{name: (search one block of queries, bytes stored per item, search object)}``; the raw
    gallery arrays are popped so the features exist once per holder."""
    import faiss

    codes = data.pop("gallery_codes")
    float_brute = FloatBruteForce().add(data.pop("gallery_features"))
    numpy_hamming, faiss_binary = NumpyHamming().add(codes), FaissBinary().add(codes)
    asymmetric = TwoStage(shortlists["asymmetric"], "asymmetric", "faiss").add(codes)
    float_rerank = TwoStage(shortlists["float"], "float", "faiss").add(codes, float_brute.features)
    raw = {}  # FAISS's own index, no tie rule: the kernel's cost at the code's width and padded
    for width in (codes.shape[1], PADDED_BYTES):
        index = faiss.IndexBinaryFlat(8 * width)
        index.add(np.pad(codes, ((0, 0), (0, width - codes.shape[1]))))
        raw[width] = (index, np.pad(data["query_codes"], ((0, 0), (0, width - codes.shape[1]))))
    six, eight = raw[codes.shape[1]], raw[PADDED_BYTES]
    return {
        "hamming numpy": (lambda q: numpy_hamming.search(data["query_codes"][q], TOP), BITS // 8, numpy_hamming),
        "hamming faiss": (lambda q: faiss_binary.search(data["query_codes"][q], TOP), BITS // 8, faiss_binary),
        f"faiss IndexBinaryFlat alone, {codes.shape[1]}-byte codes": (
            lambda q: six[0].search(six[1][q], TOP), codes.shape[1], six[0]),
        f"faiss IndexBinaryFlat alone, codes padded to {PADDED_BYTES} bytes": (
            lambda q: eight[0].search(eight[1][q], TOP), PADDED_BYTES, eight[0]),
        f"two-stage asymmetric (faiss, R={shortlists['asymmetric']})": (
            lambda q: asymmetric.search(data["query_codes"][q], data["query_relaxed"][q], TOP),
            asymmetric.bytes_per_item, asymmetric),
        f"two-stage float (faiss, R={shortlists['float']})": (
            lambda q: float_rerank.search(data["query_codes"][q], data["query_features"][q], TOP),
            float_rerank.bytes_per_item, float_rerank),
        "float brute force": (lambda q: float_brute.search(data["query_features"][q], TOP), 4 * DIMS, float_brute)}


def memory_per_item(holder, gallery: int) -> float:
    """Bytes a search object holds per gallery item (a bare FAISS index: ntotal x code_size)."""
    nbytes = holder.nbytes if hasattr(holder, "nbytes") else holder.ntotal * holder.code_size
    return nbytes / gallery


def measure(modes: dict, queries: int, gallery: int) -> list[dict]:
    """Single-query latencies (side by side, after one warm-up call each) and one batched call per mode."""
    latencies = {name: [] for name in modes}
    for search, _, _ in modes.values():
        search(slice(0, 1))
    for query in range(queries):
        for name, (search, _, _) in modes.items():
            started = time.perf_counter()
            search(slice(query, query + 1))
            latencies[name].append(1000 * (time.perf_counter() - started))
    rows = []
    for name, (search, bytes_per_item, holder) in modes.items():
        started = time.perf_counter()
        search(slice(0, queries))
        batch_ms = 1000 * (time.perf_counter() - started) / queries
        ms = np.array(latencies[name])
        rows.append({"mode": name, "bytes_per_item": bytes_per_item,
                     "memory_bytes_per_item": memory_per_item(holder, gallery), "p50_ms": float(np.percentile(ms, 50)),
                     "p95_ms": float(np.percentile(ms, 95)), "max_ms": float(ms.max()), "mean_ms": float(ms.mean()),
                     "batch_ms_per_query": batch_ms})
        print(f"  {name}: p50 {rows[-1]['p50_ms']:.2f} ms", flush=True)
    reference = rows[-1]
    for row in rows:
        row["memory_ratio_to_float"] = reference["bytes_per_item"] / row["bytes_per_item"]
        row["p50_speedup_over_float"] = reference["p50_ms"] / row["p50_ms"]
    return [{key: round(value, 3) if isinstance(value, float) else value for key, value in row.items()} for row in rows]


def chosen_shortlists() -> dict[str, int]:
    scores = load_json(settings.checkpoint_dir / SCORES, "bash checkpoints/train_hashing.sh --retrieval-only")
    return {reranker: scores["two_stage"][reranker]["shortlist"] for reranker in RERANKERS}


def print_table(result: dict) -> None:
    print(f"{result['gallery']:,} items, {BITS}-bit codes, {DIMS}-d float32, top-{TOP}, 1 thread, "
          f"{result['queries']} single-query calls per mode")
    print(f"{'mode':<56} {'bytes/item':>10} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'batch ms/q':>10} "
          f"{'x float':>8}")
    for row in result["rows"]:
        print(f"{row['mode']:<56} {row['bytes_per_item']:>10g} {row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f} "
              f"{row['max_ms']:>8.2f} {row['batch_ms_per_query']:>10.2f} {row['p50_speedup_over_float']:>8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=QUERIES)
    parser.add_argument("--shortlist", type=int, help="R for both re-rankers (default: chosen on validation)")
    parser.add_argument("--quick", action="store_true",
                        help=f"a {QUICK_GALLERY:,}-item gallery to check the script runs; writes no results "
                             "unless --out is given")
    parser.add_argument("--out", help=f"results file (default {RESULTS})")
    args = parser.parse_args()
    out = args.out or (None if args.quick else RESULTS)
    shortlists = {r: args.shortlist for r in RERANKERS} if args.shortlist else chosen_shortlists()
    gallery = QUICK_GALLERY if args.quick else GALLERY

    import faiss

    faiss.omp_set_num_threads(1)
    load = os.getloadavg()[0]
    with threadpool_limits(1):
        modes = build_modes(synthetic(gallery, args.queries), shortlists)
        rows = measure(modes, args.queries, gallery)
    result = {"gallery": gallery, "bits": BITS, "feature_dims": DIMS, "top": TOP, "queries": args.queries,
              "threads": 1, "shortlists": shortlists,
              "shortlists_from": "--shortlist" if args.shortlist else f"checkpoints/{SCORES}",
              "load_average_1min": {"before": round(load, 2), "after": round(os.getloadavg()[0], 2)},
              "cpus": os.cpu_count(), "faiss": faiss.__version__, "numpy": np.__version__, "rows": rows}
    print_table(result)
    if out:
        print(f"wrote {save_json(out, result)}")


if __name__ == "__main__":
    main()
