"""Retrieval speed and memory on this CPU: exhaustive top-100 search of a 1,000,000-item gallery
with 64-bit codes (NumPy popcount, FAISS ``IndexBinaryFlat``) against float32 brute force
(cosine over 512-d features), every figure also as a ratio to the float brute force of the same run.

All on one core (BLAS, OpenMP and FAISS limited to one thread). Two timings per backend:
*batch* (all queries in one call, time / queries: what an evaluation pays) and *single* (one
query per call: what a user waits for). "faiss raw" is ``IndexBinaryFlat.search`` alone, without
the step that makes ties follow the gallery-order policy (see ``clothlib.retrieval.search``): the
difference is what that guarantee costs. The synthetic codes and features are random and seeded
(exhaustive search costs the same whatever the values). With ``--codes DIR`` the same is measured
on a real encode export too. Targets are reported, not asserted: <= 20 ms a query for the best
backend, >= 20x faster and >= 64x less memory per item than float32 brute force.

    python benchmarks/retrieval_speed.py [--codes DIR] [--repeats 3] [--quick]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
from threadpoolctl import threadpool_limits

from clothlib.results import artifact_path, save_json
from clothlib.retrieval import FaissBinary, FloatBruteForce, NumpyHamming, load_export
from clothlib.retrieval.codes import as_words
from clothlib.timing import best_of

RESULTS = str(artifact_path("benchmark", os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"),
                            benchmark="retrieval_speed"))
GALLERY = 1_000_000
QUICK_GALLERY = 20_000
BITS = 64
DIMS = 512
QUERIES = 100  # batch timing
SINGLE_QUERIES = 20  # one-query calls timed (float brute force reads the whole 2 GB gallery per call)
TOP = 100
SEED = 0
TARGET_MS = 20.0  # per query, best hash backend, one query per call
TARGET_SPEEDUP = 20.0  # over float32 brute force, one query per call
TARGET_MEMORY_RATIO = 64.0  # float32 bytes per item / code bytes per item
FLOAT = "float32 brute force"


class RawFaiss:
    """``IndexBinaryFlat.search`` as it comes: FAISS's own order among equal distances (on the codes as
    :class:`FaissBinary` holds them, padded to whole 8-byte words)."""

    def __init__(self, backend: FaissBinary):
        self.backend = backend

    def __len__(self) -> int:
        return len(self.backend)

    @property
    def nbytes(self) -> int:
        return self.backend.nbytes

    def search(self, queries: np.ndarray, k: int):
        return self.backend.index.search(as_words(queries).view(np.uint8), k)


def synthetic(gallery_size: int) -> dict:
    """Random packed codes and float features, seeded."""
    rng = np.random.default_rng(SEED)
    started = time.perf_counter()
    data = {"gallery_codes": rng.integers(0, 256, (gallery_size, BITS // 8), dtype=np.uint8),
            "query_codes": rng.integers(0, 256, (QUERIES, BITS // 8), dtype=np.uint8),
            "gallery_features": rng.standard_normal((gallery_size, DIMS), dtype=np.float32),
            "query_features": rng.standard_normal((QUERIES, DIMS), dtype=np.float32)}
    print(f"synthetic gallery: {gallery_size:,} items, {BITS}-bit codes and {DIMS}-d float32 features "
          f"({time.perf_counter() - started:.0f} s to generate)", flush=True)
    return data


def measure(data: dict, bits: int, repeats: int) -> dict:
    """Time every backend on ``data`` (codes and features of one gallery); ratios to float. The
    gallery arrays are popped so the raw features are freed once the float backend has its copy."""
    numpy_hamming = NumpyHamming().add(data.pop("gallery_codes"))
    faiss_binary = FaissBinary().add(numpy_hamming.codes)
    float_brute = FloatBruteForce().add(data.pop("gallery_features"))
    backends = {"numpy popcount": (numpy_hamming, data["query_codes"]),
                "faiss IndexBinaryFlat": (faiss_binary, data["query_codes"]),
                "faiss raw": (RawFaiss(faiss_binary), data["query_codes"]),
                FLOAT: (float_brute, data["query_features"])}
    queries = len(data["query_codes"])
    single = min(SINGLE_QUERIES, queries)
    rows = {}
    for name, (backend, query) in backends.items():
        batch_s, cpu_per_wall = best_of(lambda backend=backend, query=query: backend.search(query, TOP), repeats)
        single_s, _ = best_of(lambda backend=backend, query=query: [backend.search(query[i:i + 1], TOP)
                                                                   for i in range(single)], repeats)
        rows[name] = {"backend": name, "bytes_per_item": backend.nbytes / len(backend),
                      "batch_ms_per_query": 1000 * batch_s / queries, "single_ms_per_query": 1000 * single_s / single,
                      "cpu_per_wall": round(cpu_per_wall, 2)}
        print(f"  {name}: {rows[name]['single_ms_per_query']:.2f} ms a query", flush=True)
    reference = rows[FLOAT]
    for row in rows.values():
        row["memory_ratio"] = reference["bytes_per_item"] / row["bytes_per_item"]
        for mode in ("batch", "single"):
            row[f"{mode}_speedup"] = reference[f"{mode}_ms_per_query"] / row[f"{mode}_ms_per_query"]
    identical = bool(np.array_equal(numpy_hamming.search(data["query_codes"], TOP)[1],
                                    faiss_binary.search(data["query_codes"], TOP)[1]))
    best = min((row for name, row in rows.items() if name in ("numpy popcount", "faiss IndexBinaryFlat")),
               key=lambda row: row["single_ms_per_query"])
    targets = {"best_backend": best["backend"],
               "ms_per_query": _target(best["single_ms_per_query"], TARGET_MS, "<="),
               "speedup": _target(best["single_speedup"], TARGET_SPEEDUP, ">="),
               "memory_ratio": _target(best["memory_ratio"], TARGET_MEMORY_RATIO, ">=")}
    return {"gallery": len(numpy_hamming), "bits": bits,
            "feature_dims": float_brute.features.shape[1], "queries": queries, "single_queries": single,
            "numpy_faiss_identical_rankings": identical,
            "rows": [{key: round(value, 3) if isinstance(value, float) else value for key, value in row.items()}
                     for row in rows.values()], "targets": targets}


def _target(value: float, target: float, sense: str) -> dict:
    met = value <= target if sense == "<=" else value >= target
    return {"value": round(value, 3), "target": f"{sense} {target:g}", "met": bool(met)}


def print_table(result: dict) -> None:
    print(f"{result['gallery']:,} items, {result['bits']}-bit codes vs {result['feature_dims']}-d float32, "
          f"top-{TOP}, 1 core; ratios are to {FLOAT}")
    print(f"{'backend':<22} {'bytes/item':>10} {'memory x':>9} {'batch ms/q':>10} {'x':>7} "
          f"{'single ms/q':>11} {'x':>7} {'cpu/wall':>8}")
    for row in result["rows"]:
        print(f"{row['backend']:<22} {row['bytes_per_item']:>10g} {row['memory_ratio']:>9.1f} "
              f"{row['batch_ms_per_query']:>10.2f} {row['batch_speedup']:>7.1f} {row['single_ms_per_query']:>11.2f} "
              f"{row['single_speedup']:>7.1f} {row['cpu_per_wall']:>8.2f}")
    print(f"NumPy and FAISS top-{TOP} identical, ties included: {result['numpy_faiss_identical_rankings']}")
    targets = result["targets"]
    print(f"targets ({targets['best_backend']}, one query per call): " + ", ".join(
        f"{name} {t['value']:g} {t['target']}: {'met' if t['met'] else 'MISSED'}"
        for name, t in targets.items() if name != "best_backend"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--codes", help="an encode export folder to measure as well (a real gallery)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help=f"a {QUICK_GALLERY:,}-item gallery, 1 repeat, to check the script runs; writes no "
                             "results unless --out is given")
    parser.add_argument("--out", help=f"results file (default {RESULTS})")
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    out = args.out or (None if args.quick else RESULTS)

    import faiss

    faiss.omp_set_num_threads(1)
    with threadpool_limits(1):
        results = {"threads": 1, "repeats": repeats, "top": TOP, "faiss": faiss.__version__,
                   "numpy": np.__version__, "synthetic": measure(synthetic(QUICK_GALLERY if args.quick else GALLERY),
                                                                 BITS, repeats)}
        print_table(results["synthetic"])
        if args.codes:
            export = load_export(args.codes)
            print(f"real gallery: {args.codes} ({export['meta'].get('model')}, {export['meta']['split']})")
            results["real"] = {"export": args.codes, **measure(
                {name: export[name][:QUERIES] if name.startswith("query") else export[name]
                 for name in ("query_codes", "gallery_codes", "query_features", "gallery_features")},
                export["meta"]["bits"], repeats)}
            print_table(results["real"])
    if out:
        print(f"wrote {save_json(out, results)}")


if __name__ == "__main__":
    main()
