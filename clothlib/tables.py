"""Every results table of the course as Markdown: one builder per table, called by the notebooks (on
what they just computed) and by ``tools/render_readme.py`` (on the shipped results files), so a table
has one layout and one set of paper columns wherever it is shown.

Builders take results in memory, exactly as the evaluation functions return them and the command
lines save them; :func:`shipped` builds a README table from those files in ``settings.checkpoint_dir``
(or a given folder), read through :func:`clothlib.results.load_artifact`, so a missing file is an
error naming the command that writes it. :data:`SHIPPED` says which files each table reads. Every
function returns a Markdown string (``IPython.display.Markdown(...)`` shows it); ``markdown(header,
rows)`` is the one formatter, for any other table a notebook shows.

Parsing (notebooks 02, 03)
    parsing_results(ours, sources)    label -> metrics dict (overall_acc, mean_acc, mean_iu), beside the
                                      paper's best net1 / net2 (Tables 1-2) and FCN-CRFs (Table 3)
    crf_results(results, sources)     model -> ``crf-eval`` result: FCN and FCN + CRF rows with boundary F
    crf_search(search)                the validation kernel search (``<model>.crf.json``), best and worst
    lr_sweep(sweep, model)            one model's learning-rate sweep beside paper Tables 1-2
    eval_heights(tuned, name)         the inference-height search (``<model>.eval_height.json``)
    parsing_training(runs)            name -> (curve, checkpoint bytes): epochs, CPU time, val mean IU
Hashing and retrieval (notebooks 05, 06)
    hashing_tasks(runs, source)       name -> ``evaluate`` metrics: task accuracy, majority baseline,
                                      the paper's Table 4 columns
    hashing_backbones(metrics)        backbone -> metrics of the same network on each frozen backbone
    retrieval_rows(baselines, runs)   the labelled score rows that the two retrieval builders show (tie
                                      bounds and two-stage rows for the networks asked for)
    retrieval_results(rows, e2e)      instance top-k and mAP, similar-item top-20, the paper's Table 5
    retrieval_protocol(rows, name)    every column of one protocol ("instance" or "similar")
    tie_views(modes, protocol)        rankings' scores four ways: gallery order, expected under a random
                                      order within ties, optimistic and pessimistic
    shortlists(two_stage)             two-stage search: the validation score of each shortlist length R
    search_speed(speed)               storage and time per query of each search mode (the benchmark)
    end_to_end(results, truth)        queries cut by the parser vs the ground-truth box
    hashing_training(runs)            name -> (curve, checkpoint bytes): epochs, CPU time, val top-20
The course (README, notebooks)
    course_map(notebooks, budget)     notebook, topic, time and memory in both modes (Binder and
                                      Colab badges only when a repository is given)
    notebook_budget(budget, name)     one notebook's measured time and memory in both modes
    reproduce(budget, curves, ...)    the steps that rebuild every shipped result, with their times
Shipped files
    shipped(name, folder=None, **given)   the table ``name`` (a README section: ``parsing-results``,
                                      ``retrieval-results``, ...) from the shipped results files
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from . import paper
from .config import settings
from .hashing.config import DEFAULT_BACKBONE, DEFAULT_NETWORK, SHIPPED_RUNS, TRAIN_SCRIPT, checkpoint_name
from .results import PARSING_SCRIPT, artifact_command, load_artifact, shown

PARSING_MODELS = ("effnet_fcn", "net1", "net2")  # the shipped parsing checkpoints, in the README's order
CRF_MODELS = ("effnet_fcn", "net1")  # those with a tuned CRF evaluated on the test split
PARSER = "effnet_fcn"  # the shipped parser: the one with goals, test-time augmentation and fine-tuned levers
COLUMN_TITLES = {"overall_acc": "overall acc", "mean_acc": "mean acc", "mean_iu": "mean IU", "boundary_f": "boundary F"}
RETRIEVAL_COLUMNS = [f"top{k}" for k in paper.RETRIEVAL_TOP_K] + ["mAP"]
OTHER_BACKBONES = {"imagenet": "untuned ImageNet backbone", "parsing": "parsing backbone"}  # name suffix -> label
DETAILED_RUNS = (DEFAULT_NETWORK,)  # the networks whose tie bounds and two-stage rows the README shows
TIE_VIEWS = {"gallery_order": "ties in gallery order (the package's rule)",
             "expected": "ties in random order (expected)",
             "optimistic": "ties: relevant first (upper bound)",
             "pessimistic": "ties: relevant last (lower bound)"}
RERANK_TITLES = {"asymmetric": "asymmetric re-rank", "float": "float re-rank"}


def markdown(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table: one header row, then ``rows`` (cells are formatted with ``str``)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows])


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _folder(folder: str | Path | None) -> Path:
    """The checkpoint folder to read: ``folder``, else ``settings.checkpoint_dir`` (read at call time)."""
    return Path(folder) if folder is not None else settings.checkpoint_dir


# --- parsing ----------------------------------------------------------------------------------------

def parsing_results(ours: Mapping[str, Mapping], sources: Mapping[str, str] | None = None,
                    columns: Sequence[str] = paper.METRICS) -> str:
    """Our rows (label -> metrics dict holding ``columns``, in %) with where each came from, then the
    paper's best net1 / net2 (Tables 1-2) and its FCN-CRFs (Table 3), which have no boundary F ("-")."""
    sources = sources or {}

    def paper_row(label: str, values: Sequence[float], source: str) -> list[str]:
        figures = dict(zip(paper.METRICS, values))
        return [label, *(f"{figures[c]:.2f}" if c in figures else "-" for c in columns), source]

    rows = [[f"{label} (ours)", *(f"{metrics[c]:.2f}" for c in columns), sources.get(label, "computed now")]
            for label, metrics in ours.items()]
    for model in ("net1", "net2"):
        rate, values = paper.best_parsing_row(model)
        rows.append(paper_row(f"{model} (paper, Caffe lr {rate:.0e})", values, "paper Tables 1-2 (their split)"))
    rows += [paper_row(f"net1 + CRF (paper, Caffe lr {rate:.0e})", values, "paper Table 3")
             for rate, values in paper.CRF_TABLE.items()]
    return markdown(["model", *(COLUMN_TITLES[c] for c in columns), "source"], rows)


def crf_results(results: Mapping[str, Mapping], sources: Mapping[str, str] | None = None) -> str:
    """FCN and FCN + CRF side by side per model (model -> the dict ``crf-eval`` returns, with ``fcn``
    and ``crf`` metrics), boundary F included, beside the paper's rows."""
    sources = sources or {}
    ours, where = {}, {}
    for model, result in results.items():
        for label, metrics in ((model, result["fcn"]), (f"{model} + dense CRF", result["crf"])):
            ours[label] = metrics
            where[label] = f"{sources.get(model, 'computed now')}, {result['photos']} photos"
    return parsing_results(ours, where, (*paper.METRICS, "boundary_f"))


def crf_search(search: Mapping, best: int = 5, worst: int = 2) -> str:
    """The CRF kernel search on the validation split (``<model>.crf.json``): the FCN alone, then the
    ``best`` settings by mean IU and the ``worst`` ones."""
    columns = (*paper.METRICS, "boundary_f")
    runs = sorted(search["runs"], key=lambda run: -run["mean_iu"])
    shown = runs if len(runs) <= best + worst else runs[:best] + runs[len(runs) - worst:]
    rows = [["*FCN alone*", "", "", *(f"{search['fcn'][c]:.2f}" for c in columns)]]
    rows += [[f"{r['bilateral_sxy']:g}", f"{r['bilateral_srgb']:g}", f"{r['bilateral_weight']:g}",
              *(f"{r[c]:.2f}" for c in columns)] for r in shown]
    table = markdown(["bilateral sxy", "srgb", "weight", *(COLUMN_TITLES[c] for c in columns)], rows)
    return (f"The {search['split']} split, {search['photos']} photos, {len(runs)} settings "
            f"(best {min(best, len(shown))}, worst {len(shown) - min(best, len(shown))}):\n\n{table}")


def _crf_run(search: Mapping, params: Mapping) -> Mapping:
    """The run of a timed CRF search (``<model>.crf.json``) with these kernel parameters."""
    return next(r for r in search["runs"] if all(r[k] == v for k, v in params.items()))


def crf_choice(search: Mapping) -> str:
    """One sentence from a timed CRF search (``<model>.crf.json``): the setting chosen within the time
    bound, its validation mean IU and CPU time per photo, and the best setting without the bound."""
    def setting(params: Mapping) -> str:
        run = _crf_run(search, params)
        return (f"bilateral sxy {run['bilateral_sxy']:g}, srgb {run['bilateral_srgb']:g}, weight "
                f"{run['bilateral_weight']:g}: {search['split']} mean IU {run['mean_iu']:.2f}, CPU seconds per photo "
                f"p50 {run['cpu_s_p50']:.3f} / p95 {run['cpu_s_p95']:.3f} / max {run['cpu_s_max']:.3f}")

    return (f"{search['checkpoint']}'s CRF: of {len(search['runs'])} settings timed on {search['photos']} "
            f"{search['split']} photos, chosen by {search['chosen_by']}: {setting(search['best'])}. Without the "
            f"bound: {setting(search['unbounded_best'])}.")


def lr_sweep(sweep: Mapping, model: str) -> str:
    """One model's learning-rate sweep (``lr_sweep.json``): each Caffe rate, the rate it becomes on a
    mean loss, our validation metrics (or "diverged"; a run that learnt only the background prior is
    labelled so), and the paper's test metrics at that rate."""
    rows = []
    for run in (r for r in sweep["runs"] if r["model"] == model):
        ours = "diverged" if run["diverged"] else " / ".join(f"{run['val_' + m]:.1f}" for m in paper.METRICS) + (
            " (background everywhere)" if run.get("background_only") else "")
        theirs = " / ".join(f"{v:.1f}" for v in paper.PARSING_LR_TABLES[model][run["caffe_lr"]])
        rows.append([f"Caffe {run['caffe_lr']:.0e}", f"{run['lr']:.4g}", ours, theirs])
    return markdown([f"**{model}**", "ours: rate on mean loss", "ours: overall / mean acc / mean IU (val, %)",
                     "paper (test, %)"], rows)


def eval_heights(tuned: Mapping, name: str) -> str:
    """The inference-height search (``<model>.eval_height.json``), the chosen height marked."""
    rows = [[f"{r['eval_height']}{' (chosen)' if r['eval_height'] == tuned['best'] else ''}",
             *(f"{r[c]:.2f}" for c in paper.METRICS)] for r in tuned["heights"]]
    return markdown([f"{name}: height on {tuned['split']}", *(COLUMN_TITLES[c] for c in paper.METRICS)], rows)


def parsing_training(runs: Mapping[str, tuple[Sequence[Mapping], int]]) -> str:
    """Per checkpoint (name -> (training curve, file size in bytes)): epochs, CPU training time,
    final validation mean IU, size."""
    rows = [[f"{name}.pt", len(curve), f"{sum(e['seconds'] for e in curve) / 3600:.2f} h (+ validation)",
             f"{curve[-1]['val_mean_iu']:.2f}", f"{size / 2**20:.1f} MB"] for name, (curve, size) in runs.items()]
    return markdown(["checkpoint", "epochs", "training wall time (2-core machine, shared)", "final val mean IU",
                     "size"], rows)


# --- hashing and retrieval --------------------------------------------------------------------------

def hashing_tasks(runs: Mapping[str, Mapping], source: str = "computed now") -> str:
    """Paper Table 4: accuracy per task (name -> the metrics ``python -m clothlib.hashing evaluate``
    returns) beside always answering the majority value, and the paper's numbers per network.
    Tasks are the majority baseline's (every task of the consumer-to-shop set); "–" where a network
    has no head for a task or the paper has no close group."""
    any_run = next(iter(runs.values()))
    models = [metrics["model"] for metrics in runs.values()]
    rows = [[task, _number(any_run["majority"][task]), *(_number(m.get(f"{task}_acc")) for m in runs.values()),
             " / ".join(_number(paper.HASHING_TASK_TABLE[model].get(task)) for model in models)]
            for task in any_run["majority"]]
    table = markdown(["task (test %)", "majority class", *models, "paper: " + " / ".join(models)], rows)
    return (f"{table}\n\n{any_run['items']} test items, consumer views; {source}. "
            "The paper's attribute groups differ from ours; the closest are shown.")


def hashing_backbones(metrics: Mapping[str, Mapping],
                      keys: Sequence[str] = ("category_acc", "colour_acc", "fine_category_acc", "pair_acc", "top1",
                                             "top20")) -> str:
    """The same network trained on each frozen backbone (backbone -> its ``evaluate`` metrics)."""
    rows = [[backbone, *(f"{m[k]:.1f}" for k in keys)] for backbone, m in metrics.items()]
    return markdown(["backbone", *keys], rows)


def retrieval_rows(baselines: Mapping | None, runs: Mapping[str, Mapping], detailed: Sequence[str] = ()
                   ) -> dict[str, Mapping]:
    """Label -> scores (``{"instance": {...}, "similar": {...}}``) in the order the tables show them: the
    untrained baselines (``evaluate_baselines``' result) if given, then each network's codes (name ->
    ``evaluate_export``' result, named by checkpoint stem) and, at 48 bits, its float features. For the
    networks named in ``detailed``, between the two: their codes' scores with ties in random order
    (expected) and the optimistic and pessimistic bounds, then two-stage search with each re-ranker
    (where the result has it: evaluated with a validation export)."""
    rows = {}
    if baselines:
        rows["raw ImageNet backbone features (float, no training)"] = baselines["rows"]["raw_features"]
        bits_list = sorted({int(key.split("-")[1]) for key in baselines["rows"] if "-" in key})
        for bits in bits_list:
            for method in ("LSH", "ITQ"):
                rows[f"{method} {bits} bits (on the raw features)"] = baselines["rows"][f"{method}-{bits}"]
    for name, result in runs.items():
        suffix = next((f" ({label})" for backbone, label in OTHER_BACKBONES.items()
                       if name.endswith(f"_{backbone}")), "")
        label = f"{result['model']} {result['bits']} bits{suffix}"
        rows[label] = result["hash"]
        if name in detailed:
            for view in ("expected", "optimistic", "pessimistic"):
                rows[f"{label}, {TIE_VIEWS[view]}"] = {p: views[view] for p, views in result["hash_ties"].items()}
            stages = result.get("two_stage", {})
            for reranker in (r for r in RERANK_TITLES if r in stages):
                stage = stages[reranker]
                title = (f"{label} + {RERANK_TITLES[reranker]} of the Hamming top {stage['shortlist']} "
                         f"({stage['bytes_per_item']:,} bytes/item)")
                rows[title] = {protocol: stage[protocol]["gallery_order"] for protocol in result["hash"]}
        if result["bits"] == 48:
            rows[f"{result['model']} float features{suffix}"] = result["float"]
    return rows


def retrieval_results(rows: Mapping[str, Mapping], end_to_end: Mapping | None = None) -> str:
    """Paper Table 5: top-k and mAP under the instance protocol and the similar-item top-20 per row
    (:func:`retrieval_rows`), then the paper's rows (their data), then the end-to-end sentence if the
    result of ``python -m clothlib.endtoend`` is given."""
    table = [[label, *(f"{scores['instance'][c]:.1f}" for c in RETRIEVAL_COLUMNS), f"{scores['similar']['top20']:.1f}"]
             for label, scores in rows.items()]
    table += [[f"paper: {name} (their data)", *("–" if v is None else f"{100 * v:.1f}" for v in values), "–", "–"]
              for name, values in paper.RETRIEVAL_TABLE.items()]
    text = markdown(["method (instance protocol, %)", *RETRIEVAL_COLUMNS, "similar-item top20"], table)
    if end_to_end:
        where = shown("end_to_end", split="test")
        found = "; ".join(f"{label}: top-20 {end_to_end[key]['top20']:.1f} % with the garment's class found for "
                          f"{end_to_end[key]['coverage']:.0f} % of items"
                          for key, label in (("fcn", "FCN"), ("fcn_crf", "FCN-CRF")))
        text += (f"\n\nEnd to end (queries cut from the parsed photo instead of the ground-truth box, "
                 f"{end_to_end['hashing']} {end_to_end['bits']} bits): {found} (`{where}`).")
    return text


def retrieval_protocol(rows: Mapping[str, Mapping], protocol: str) -> str:
    """Every top-k and mAP of one protocol (``"instance"``: the item's own shop view is relevant;
    ``"similar"``: any shop view of the same category and attributes) for the rows of
    :func:`retrieval_rows`."""
    table = [[label, *(f"{scores[protocol][c]:.1f}" for c in RETRIEVAL_COLUMNS)] for label, scores in rows.items()]
    return markdown([f"{protocol} (%)", *RETRIEVAL_COLUMNS], table)


def tie_views(modes: Mapping[str, Mapping], protocol: str = "instance",
              columns: Sequence[str] = ("top1", "top5", "top10", "top20", "mAP")) -> str:
    """Each ranking (label -> :func:`~clothlib.retrieval.ties.tie_aware_scores`' result per protocol,
    e.g. ``evaluate_export``'s ``hash_ties``) four ways: ties in gallery order, in random order
    (expected), relevant first and relevant last, and the spread between the bounds."""
    rows = []
    for label, result in modes.items():
        views = result[protocol]
        rows += [[label if view == "gallery_order" else "", TIE_VIEWS[view],
                  *(f"{views[view][c]:.1f}" for c in columns)] for view in TIE_VIEWS]
        rows.append(["", "*spread: upper - lower bound*",
                     *(f"*{views['optimistic'][c] - views['pessimistic'][c]:.1f}*" for c in columns)])
    return markdown([f"ranking ({protocol} protocol, %)", "order within ties", *columns], rows)


def shortlists(two_stage: Mapping, metric: str = "top20") -> str:
    """Two-stage search (``evaluate_export``'s ``two_stage``): the validation ``metric`` at each
    shortlist length R per re-ranker, the chosen R in bold."""
    rerankers = [r for r in RERANK_TITLES if r in two_stage]
    lengths = two_stage["rule"]["candidates"]
    rows = [[f"{length}", *(f"**{two_stage[r]['validation'][str(length)][metric]:.1f}**"
                            if length == two_stage[r]["shortlist"] else
                            f"{two_stage[r]['validation'][str(length)][metric]:.1f}" for r in rerankers)]
            for length in lengths]
    rule = two_stage["rule"]
    return (markdown(["shortlist length R", *(f"{RERANK_TITLES[r]}: {rule['chosen_on']} {metric}" for r in rerankers)],
                     rows)
            + f"\n\n{rule['validation_queries']} {rule['chosen_on']} queries, {rule['protocol']} protocol; in bold the "
            f"chosen R: the smallest within {rule['tolerance_points']} points of the best.")


def search_speed(speed: Mapping) -> str:
    """One sentence from ``benchmarks/results/two_stage_speed.json``: per search mode, the bytes a
    gallery item takes (and, where it differs, what the search holds in memory: a FAISS index keeps
    its own padded copy of the codes) and the median time of a single query."""
    def memory(row: Mapping) -> str:
        held = row.get("memory_bytes_per_item", row["bytes_per_item"])
        return "" if held == row["bytes_per_item"] else f" ({held:,g} in memory)"

    parts = "; ".join(f"{row['mode']}: {row['p50_ms']:.1f} ms, {row['bytes_per_item']:,g} bytes/item{memory(row)}"
                      for row in speed["rows"])
    return (f"Storage and speed (`{shown('benchmark', benchmark='two_stage_speed')}`: a synthetic "
            f"{speed['gallery']:,}-item gallery of {speed['bits']}-bit codes and {speed['feature_dims']}-d float32 "
            f"features, top-{speed['top']}, "
            f"median time of a single query on {speed['threads']} core): {parts}.")


def quantisers(comparison: Mapping) -> str:
    """The quantiser comparison (``compare_quantisers``' result): Hamming and float top-1 / top-20 on the
    validation split, the share of the float top-20 the codes keep, category accuracy, training time (the
    epochs' own seconds, recorded when the run trained)."""
    rows = [[f"`{name}`: {row['description']}", _number(row["hamming_top1"]), _number(row["hamming_top20"]),
             _number(row["float_top1"]), _number(row["float_top20"]), _number(row["kept_of_float_top20"]),
             _number(row["category_acc"]),
             f"{row['train_seconds']:.0f} s" + (" (shipped checkpoint)" if row["shipped"] else "")]
            for name, row in comparison["rows"].items()]
    config = comparison["config"]
    table = markdown([f"quantiser ({config['model']}, {config['bits']} bits; {comparison['split']} %)", "Hamming top1",
                      "Hamming top20", "float top1", "float top20", "codes keep (% of float top20)", "category",
                      "training"], rows)
    return (f"{table}\n\n{comparison['items']} {comparison['split']} items; ties in gallery order. Trained on "
            f"{comparison['train_items']:,} training items ({comparison['pseudo_photos']:,} pseudo-labelled photos "
            "among their sources).")


def ablation(result: Mapping) -> str:
    """What each change to the paper's network bought (``hashing.ablation.ablation``'s result): per step,
    Hamming and float top-1 / top-20 on the validation split, the share of the float top-20 the codes
    keep, category top-1 / top-3, training time."""
    rows = [[row["step"], _number(row["hamming_top1"]), _number(row["hamming_top20"]), _number(row["float_top1"]),
             _number(row["float_top20"]), _number(row["kept_of_float_top20"]), _number(row["category_acc"]),
             _number(row["category_top3_acc"]), f"{row['train_seconds']:.0f} s"] for row in result["rows"]]
    config = result["config"]
    table = markdown([f"step ({config['model']}, {config['bits']} bits; {result['split']} %)", "Hamming top1",
                      "Hamming top20", "float top1", "float top20", "codes keep (% of float top20)", "category top1",
                      "category top3", "training"], rows)
    return (f"{table}\n\n{result['items']} {result['split']} items; each step keeps the changes above it; ties in "
            f"gallery order. Trained on {result['train_items']:,} training items ({result['pseudo_photos']:,} "
            "pseudo-labelled photos among their sources).")


def test_time_augmentation(result: Mapping) -> str:
    """Parsing with test-time augmentations (``parsing.evaluation.compare_augmentations``' result): metrics
    on the split and wall seconds per photo (p50 / p95) at the recorded thread count."""
    rows = [[f"`{name}`: scales {', '.join(f'{s:g}' for s in row['scales'])}{' + mirror' if row['flip'] else ''}",
             *(f"{row[key]:.2f}" for key in ("overall_acc", "mean_acc", "mean_iu")),
             f"{row['wall_s_p50']:.2f} / {row['wall_s_p95']:.2f} s"] for name, row in result["rows"].items()]
    return markdown([f"{result['checkpoint']} ({result['split']}, {result['photos']} photos)", "overall acc",
                     "mean acc", "mean IU", f"time per photo p50 / p95 ({result['threads']} threads)"], rows)


def parsing_levers(shipped: Mapping, fine_tuned: Mapping[str, tuple[Mapping, Sequence[Mapping]]],
                   classes: int = 3) -> str:
    """The shipped parser beside fine-tuned variants of it, on one split (``shipped``: its metrics file;
    ``fine_tuned``: row label -> (metrics file, training curve)): the three metrics, the change of mean IU,
    the IoU of the ``classes`` classes the shipped parser finds hardest, and the extra training time."""
    for metrics, _ in fine_tuned.values():
        if (metrics["split"], metrics["photos"], metrics["eval_height"]) != \
                (shipped["split"], shipped["photos"], shipped["eval_height"]):
            raise ValueError(f"{metrics['checkpoint']} was scored on {metrics['photos']} {metrics['split']} photos at "
                             f"{metrics['eval_height']} px, {shipped['checkpoint']} on {shipped['photos']} "
                             f"{shipped['split']} photos at {shipped['eval_height']} px: not comparable")
    hardest = sorted(shipped["per_class_iou"], key=shipped["per_class_iou"].get)[:classes]
    rows = []
    for label, metrics, curve in [(f"{shipped['checkpoint']} (shipped)", shipped, None),
                                  *((label, m, c) for label, (m, c) in fine_tuned.items())]:
        rows.append([label, *(f"{metrics[key]:.2f}" for key in ("overall_acc", "mean_acc", "mean_iu")),
                     "" if curve is None else f"{metrics['mean_iu'] - shipped['mean_iu']:+.2f}",
                     *(f"{metrics['per_class_iou'][name]:.1f}" for name in hardest),
                     "" if curve is None else f"+{sum(e['seconds'] for e in curve) / 60:.0f} min"])
    return markdown([f"{shipped['split']}, {shipped['photos']} photos, {shipped['eval_height']} px", "overall acc",
                     "mean acc", "mean IU", "change", *(f"IoU {name}" for name in hardest), "training (2 cores)"],
                    rows)


def end_to_end(results: Mapping[str, Mapping], ground_truth: Mapping | None = None) -> str:
    """Top-k of queries cut from the parsed photo (name -> ``evaluate_end_to_end``'s result, e.g. ``fcn``
    and ``fcn_crf``) beside the same network's queries cut by the ground-truth box (its instance scores)."""
    top = [f"top{k}" for k in paper.RETRIEVAL_TOP_K]
    rows = []
    if ground_truth:
        rows.append(["ground truth", ground_truth["queries"], 100, *(f"{ground_truth[c]:.1f}" for c in top)])
    rows += [[name, r["items"], f"{r['coverage']:.0f}", *(f"{r[c]:.1f}" for c in top)] for name, r in results.items()]
    return markdown(["query cut from", "items", "class found (%)", *top], rows)


def hashing_training(runs: Mapping[str, tuple[Sequence[Mapping], int]]) -> str:
    """Per checkpoint (name -> (training curve, file size in bytes)): epochs, CPU time, final
    validation top-20, size."""
    rows = [[f"{name}.pt", len(curve), f"{sum(e['seconds'] for e in curve) / 60:.1f} min (+ validation)",
             f"{curve[-1]['val_top20']:.1f}", f"{size / 2**20:.1f} MB"] for name, (curve, size) in runs.items()]
    return markdown(["checkpoint", "epochs", "training time (2-core machine)", "final val top-20", "size"], rows)


# --- the course -------------------------------------------------------------------------------------

def course_budget() -> dict:
    """What ``benchmarks/course_budget.py`` last measured (``benchmarks/results/course_budget.json``)."""
    return load_artifact("benchmark", benchmark="course_budget")


def notebook_budget(budget: Mapping, notebook: str) -> str:
    """What ``benchmarks/course_budget.py`` measured for one notebook (``budget``: its results file):
    wall time and peak memory in fast and default mode, libraries included. A file that records a
    second, warm run (``warm``) measured the first one from a cold cache and says so; an older file
    did not record the cache's state, and the sentence says that instead of guessing."""
    figures = budget["notebooks"].get(notebook, {})
    modes = []
    for mode in ("fast", "default"):
        if mode in figures:
            run = figures[mode]
            again = f", again {run['warm']['seconds']:.0f} s" if "warm" in run else ""
            modes.append(f"{mode} mode {run['seconds']:.0f} s{again} and {run['peak_mib']:,} MiB")
    if not modes:
        return f"{notebook} has not been measured yet (`python benchmarks/course_budget.py`)."
    cold = any("warm" in figures[mode] for mode in ("fast", "default") if mode in figures)
    state = ("a first run from a cold cache, then a second one" if cold else
             "the cache's state was not recorded: re-measure with `python benchmarks/course_budget.py`")
    return f"Measured on {budget['machine']}: " + "; ".join(modes) + f" (wall time and peak memory, {state})."


def course_map(notebooks: Sequence[tuple[str, str]], budget: Mapping, repository: str | None = None) -> str:
    """Notebook (file name, title), and the wall time / peak memory ``benchmarks/course_budget.py``
    measured in each mode. ``repository`` (``OWNER/REPO`` on GitHub) adds launch badges per notebook
    (Binder, and Colab from the branch ``main``); it is an explicit choice, never guessed from the clone,
    so every clone renders the same table."""
    def cell(name: str, mode: str) -> str:
        figures = budget["notebooks"].get(name, {}).get(mode)
        return f"{figures['seconds']:.0f} s / {figures['peak_mib']} MiB" if figures else "not measured"

    def launch(name: str) -> str:
        if not repository:
            return ""
        return (f" [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/{repository}/HEAD"
                f"?labpath=notebooks%2F{name}) [![Open in Colab](https://colab.research.google.com/assets/"
                f"colab-badge.svg)](https://colab.research.google.com/github/{repository}/blob/main/notebooks/{name})")

    table = markdown(["notebook", "what it teaches", "fast mode (time / peak memory)", "default mode"],
                     [[f"[{name}](notebooks/{name}){launch(name)}", title, cell(name, "fast"), cell(name, "default")]
                      for name, title in notebooks])
    return (f"{table}\n\nMeasured by `python benchmarks/course_budget.py` on {budget['machine']}. "
            "Peak memory includes the libraries themselves: importing torch, torchvision and matplotlib alone "
            f"peaks at {budget['import_baseline_mib']} MiB with the torch build installed there (a CPU-only build "
            "is smaller).")


def _course_time(budget: Mapping) -> str:
    """Default-mode time of every notebook: run again with the caches built, and each from a cold cache
    summed (an upper bound for a first ``make course``: what one notebook builds, the next reuses)."""
    runs = [n["default"] for n in budget["notebooks"].values() if "default" in n]
    if not runs:
        return "not measured"
    cold = sum(run["seconds"] for run in runs) / 60
    if not all("warm" in run for run in runs):
        return f"{cold:.0f} min (`benchmarks/course_budget.py`)"
    warm = sum(run["warm"]["seconds"] for run in runs) / 60
    return (f"{warm:.0f} min with the caches built; a first run less than {cold:.0f} min, the notebooks' cold-cache "
            "times summed (`benchmarks/course_budget.py`; one notebook reuses what another built)")


def reproduce(budget: Mapping, parsing_curves: Mapping[str, Sequence[Mapping]], pseudo_walls: Sequence[float],
              hashing_walls: Sequence[float]) -> str:
    """The steps that rebuild every shipped result, with the CPU time each took where it was recorded:
    the parsing curves (effnet_fcn, then net1 beside net2), the wall times ``/usr/bin/time`` logged for
    the pseudo-labelling and each hashing training, and the notebooks' default-mode time."""
    hours = {model: sum(e["seconds"] for e in curve) / 3600 for model, curve in parsing_curves.items()}
    parsing_hours = hours["effnet_fcn"] + max(hours["net1"], hours["net2"])  # net1 and net2 train side by side
    pseudo = (f"{sum(pseudo_walls) / 60:.0f} min (`checkpoints/logs/c2s_pseudo.log`: parsing and CRF over 1,094 "
              "photos, then the build)" if pseudo_walls else "not recorded")
    hashing = (f"{sum(hashing_walls) / 60:.0f} min for {len(hashing_walls)} trainings (logs: the backbone's tuning, "
               "then each network; the first of each backbone computes its features), plus evaluation"
               if hashing_walls else "not run yet")
    rows = [["dataset", "`make data` (or `python data_scripts/download_ccp.py`)", "download-bound"],
            ["parsing networks, inference heights, CRF tuning, LR sweep", f"`{PARSING_SCRIPT}`",
             f"{parsing_hours:.1f} h of training (curves: effnet_fcn, then net1 beside net2), plus the sweep and "
             "evaluation"],
            ["consumer-to-shop set with pseudo-labelled photos", "`python -m clothlib.parsing predict --checkpoint "
             "checkpoints/effnet_fcn.pt --crf --split tagged --out data/predictions/tagged` then `python "
             "data_scripts/build_c2s.py --predictions data/predictions/tagged` (the first step of `train_hashing.sh`)",
             pseudo],
            ["hashing networks, baselines, end-to-end queries", f"`{TRAIN_SCRIPT}`", hashing],
            ["every notebook, default mode", "`make course`", _course_time(budget)]]
    return markdown(["step", "command", "time on the 2-core machine"], rows)


# --- the goals of the issues ------------------------------------------------------------------------

def _goal_row(goal: str, target: str, reached: str, met: bool) -> list[str]:
    """One row of an issue's goals table: what, the target, what was reached, and whether it was met."""
    return [goal, target, reached, "yes" if met else "no"]


def hashing_goals(retrieval: Mapping, metrics: Mapping, end_to_end: Mapping, runs: Mapping[str, tuple],
                  tuning_seconds: float) -> str:
    """Issue 15's goals beside what the shipped catt3_net (48 bits) reached on the test split (its
    ``.test.retrieval.json`` and ``.test.metrics.json``, the end-to-end file) and what every shipped
    hashing network cost (name -> (training curve, file size)), the backbone's tuning included."""
    hamming, floats = retrieval["hash"]["instance"], retrieval["float"]["instance"]
    stage = retrieval["two_stage"]["float"]
    reranked = stage["instance"]["gallery_order"]
    parsed = end_to_end["fcn_crf"]
    hours = (sum(sum(epoch["seconds"] for epoch in curve) for curve, _ in runs.values()) + tuning_seconds) / 3600
    largest = max(size for _, size in runs.values()) / 2**20

    rows = [_goal_row(*goal) for goal in [
        ("Hamming top-20", ">= 65 %", f"{hamming['top20']:.1f} %", hamming["top20"] >= 65),
        ("Hamming top-20 / float top-20", ">= 85 %", f"{100 * hamming['top20'] / floats['top20']:.1f} %",
         hamming["top20"] >= 0.85 * floats["top20"]),
        (f"two-stage (float re-rank of the Hamming top {stage['shortlist']}) top-20 / float top-20", ">= 98 %",
         f"{100 * reranked['top20'] / floats['top20']:.1f} %", reranked["top20"] >= 0.98 * floats["top20"]),
        ("two-stage top-1 below float top-1", "<= 2 points", f"{floats['top1'] - reranked['top1']:.1f} points",
         floats["top1"] - reranked["top1"] <= 2),
        ("float features top-20", ">= 80 %", f"{floats['top20']:.1f} %", floats["top20"] >= 80),
        ("category top-1", ">= 85 %", f"{metrics['category_acc']:.1f} % "
         f"(top-3 {metrics['category_top3_acc']:.1f} %)", metrics["category_acc"] >= 85),
        ("end to end (queries cut by the parser + CRF) top-20", ">= 55 %", f"{parsed['top20']:.1f} %",
         parsed["top20"] >= 55),
        (f"training of all {len(runs)} shipped networks and the backbone's tuning", "<= 3 CPU hours",
         f"{hours:.2f} h", hours <= 3),
        ("largest shipped hashing checkpoint", "<= 20 MB", f"{largest:.1f} MB", largest <= 20)]]
    return markdown([f"goal ({retrieval['model']}, {retrieval['bits']} bits, {retrieval['queries']} test queries)",
                     "target", "reached", "met"], rows)


def parsing_goals(plain: Mapping, refined: Mapping, crf_search: Mapping, tta: Mapping) -> str:
    """Issue 14's goals for the shipped parser beside what it reached: its test metrics (``plain``: the
    ``.test.metrics.json``; ``refined``: the CRF's, ``.test.crf.metrics.json``), the CRF's time at the
    chosen kernel (``.crf.json``) and the network's time per photo (``.val.tta.json``, no augmentation)."""
    crf = refined["crf"]
    network = tta["rows"]["none"]
    crf_p95 = _crf_run(crf_search, crf_search["best"])["cpu_s_p95"]
    rows = [_goal_row(*goal) for goal in [
        ("overall accuracy", ">= 93.2 %", f"{plain['overall_acc']:.2f} %", plain["overall_acc"] >= 93.2),
        ("mean IU", ">= 53 %", f"{plain['mean_iu']:.2f} %", plain["mean_iu"] >= 53),
        ("mean IU with the dense CRF", ">= 55 %", f"{crf['mean_iu']:.2f} %", crf["mean_iu"] >= 55),
        (f"network time per photo, p95 over {tta['photos']} {tta['split']} photos ({tta['threads']} threads)",
         "<= 0.5 s", f"{network['wall_s_p95']:.2f} s", network["wall_s_p95"] <= 0.5),
        (f"CRF time per photo, p95 over {crf_search['photos']} {crf_search['split']} photos (1 core)",
         f"<= {crf_search['time_bound_s']:g} s", f"{crf_p95:.3f} s", crf_p95 <= crf_search["time_bound_s"])]]
    return markdown([f"goal ({plain['checkpoint']}, {plain['photos']} {plain['split']} photos)", "target", "reached",
                     "met"], rows)


def retrieval_summary(baselines: Mapping, runs: Mapping[str, Mapping], end_to_end: Mapping,
                      speed: Mapping | None = None, detailed: Sequence[str] = DETAILED_RUNS) -> str:
    """:func:`retrieval_results` of the baselines, networks (name -> retrieval results file; tie bounds
    and two-stage rows for ``detailed``) and end-to-end queries, then what those rows mean and, given
    the speed benchmark's result, :func:`search_speed`."""
    text = retrieval_results(retrieval_rows(baselines, runs, detailed), end_to_end)
    rule = runs[detailed[0]]["two_stage"]["rule"]
    text += ("\n\nA 48-bit Hamming distance takes at most 49 values, so many gallery items tie with a query's right "
             "answer: the plain rows order ties by gallery position; the \"ties\" rows score the same codes with "
             "ties in random order (expected value, closed form) and with the right item first or last among its "
             "ties (the bounds). Two-stage rows re-rank the Hamming top R by the query's relaxed code against the "
             "stored codes (asymmetric: the gallery stores codes only) or by the float features (the gallery stores "
             f"them too), R chosen on the {rule['chosen_on']} split ({rule['validation_queries']} queries: the "
             f"smallest R within {rule['tolerance_points']} points of the best {rule['protocol']} "
             f"{rule['metric']}); their ties are in gallery order.")
    return text + (f"\n\n{search_speed(speed)}" if speed else "")


# --- the shipped results files ----------------------------------------------------------------------

LEVERS = {"effnet_fcn_cross_entropy": "+ 4 epochs, cross-entropy (control)",
          "effnet_fcn_lovasz_softmax": "+ 4 epochs, Lovász-softmax"}  # checkpoints/levers/, by parsing_levers.sh




def _hashing_names() -> list[str]:
    """The shipped hashing checkpoints' stems, in ``SHIPPED_RUNS`` order."""
    return [checkpoint_name(*run)[:-3] for run in SHIPPED_RUNS]


def _trained(folder: Path, names: Sequence[str], curve: str) -> dict[str, tuple[list, int]]:
    """Name -> (training curve, checkpoint size in bytes), for checkpoints in ``folder`` (``curve``: the
    curves' artifact key)."""
    runs = {}
    for name in names:
        checkpoint = folder / f"{name}.pt"
        if not checkpoint.exists():
            load_artifact(curve, folder, stem=name)  # a missing curve is the clearer error
            raise FileNotFoundError(f"{checkpoint} not found. Make it with `{artifact_command(curve, stem=name)}`.")
        runs[name] = (load_artifact(curve, folder, stem=name), checkpoint.stat().st_size)
    return runs


def _parsing_results(folder: Path) -> dict:
    ours, sources = {}, {}
    for model in PARSING_MODELS:
        metrics = ours[model] = load_artifact("parsing_metrics", folder, stem=model, split="test")
        sources[model] = f"`{shown('parsing_metrics', stem=model, split='test')}` ({metrics['photos']} test photos)"
        if model in CRF_MODELS:
            ours[f"{model} + dense CRF"] = load_artifact("crf_metrics", folder, stem=model, split="test")["crf"]
            sources[f"{model} + dense CRF"] = (f"`{shown('crf_metrics', stem=model, split='test')}` "
                                               "(CRF tuned on the validation split)")
    return {"ours": ours, "sources": sources}


def _hashing_tasks(folder: Path) -> dict:
    """The shipped multi-task networks at 48 bits on the default backbone."""
    runs = {name: load_artifact("hashing_metrics", folder, stem=name, split="test")
            for name, (model, bits, backbone) in zip(_hashing_names(), SHIPPED_RUNS)
            if bits == 48 and backbone == DEFAULT_BACKBONE and model != "simnet"}
    return {"runs": runs, "source": f"from `{shown('hashing_metrics', stem='hash_*', split='test')}`"}


def _parsing_levers(folder: Path) -> dict:
    """The fine-tuning runs ``checkpoints/parsing_levers.sh`` wrote, beside the shipped parser."""
    return {"shipped": load_artifact("parsing_metrics", folder, stem=PARSER, split="val"),
            "fine_tuned": {label: (load_artifact("lever_metrics", folder, stem=stem, split="val"),
                                   load_artifact("lever_curve", folder, stem=stem))
                           for stem, label in LEVERS.items()}}


def _parsing_goals(folder: Path) -> dict:
    return {"plain": load_artifact("parsing_metrics", folder, stem=PARSER, split="test"),
            "refined": load_artifact("crf_metrics", folder, stem=PARSER, split="test"),
            "crf_search": load_artifact("crf_search", folder, stem=PARSER),
            "tta": load_artifact("tta", folder, stem=PARSER, split="val")}


def _hashing_goals(folder: Path) -> dict:
    stem = DETAILED_RUNS[0]
    tuning = load_artifact("hashing_curve", folder, stem="backbone_tuned")
    return {"retrieval": load_artifact("retrieval", folder, stem=stem, split="test"),
            "metrics": load_artifact("hashing_metrics", folder, stem=stem, split="test"),
            "end_to_end": load_artifact("end_to_end", folder, split="test"),
            "runs": _trained(folder, _hashing_names(), "hashing_curve"),
            "tuning_seconds": sum(e["seconds"] for e in tuning)}


def _retrieval_summary(folder: Path) -> dict:
    return {"baselines": load_artifact("retrieval_baselines", folder),
            "runs": {name: load_artifact("retrieval", folder, stem=name, split="test") for name in _hashing_names()},
            "end_to_end": load_artifact("end_to_end", folder, split="test")}


def _logged_walls(log: Path) -> list[float]:
    """The ``wall N s`` lines that ``/usr/bin/time`` wrote into a training script's log."""
    return [float(match) for match in re.findall(r"^wall ([0-9.]+) s$", log.read_text(), re.M)] if log.exists() else []




def _reproduce(folder: Path) -> dict:
    """The shipped parsing curves and the training logs (``logs/``); ``budget`` is given to :func:`shipped`."""
    logs = [folder / "logs" / "backbone_tuned.log", *sorted((folder / "logs").glob("hash_*.log"))]
    walls = [wall for log in logs if not log.name.endswith(".test.log") for wall in _logged_walls(log)]
    return {"parsing_curves": {model: load_artifact("parsing_curve", folder, stem=model) for model in PARSING_MODELS},
            "pseudo_walls": _logged_walls(folder / "logs" / "c2s_pseudo.log"), "hashing_walls": walls}


# Table name (the README section that shows it) -> (its builder, what reads its arguments from a checkpoint
# folder: keyword -> the loaded results files).
SHIPPED: dict[str, tuple[Callable[..., str], Callable[[Path], dict]]] = {
    "parsing-results": (parsing_results, _parsing_results),
    "crf-choice": (crf_choice, lambda folder: {"search": load_artifact("crf_search", folder, stem=PARSER)}),
    "parsing-training": (parsing_training,
                         lambda folder: {"runs": _trained(folder, PARSING_MODELS, "parsing_curve")}),
    "hashing-results": (hashing_tasks, _hashing_tasks),
    "quantisers": (quantisers, lambda folder: {"comparison": load_artifact(
        "quantisers", folder, stem=f"{DETAILED_RUNS[0]}_imagenet", split="val")}),
    "ablation": (ablation, lambda folder: {"result": load_artifact(
        "ablation", folder, stem=DETAILED_RUNS[0], split="val")}),
    "parsing-goals": (parsing_goals, _parsing_goals),
    "hashing-goals": (hashing_goals, _hashing_goals),
    "test-time-augmentation": (test_time_augmentation, lambda folder: {"result": load_artifact(
        "tta", folder, stem=PARSER, split="val")}),
    "parsing-levers": (parsing_levers, _parsing_levers),
    "retrieval-results": (retrieval_summary, _retrieval_summary),
    "hashing-training": (hashing_training,
                         lambda folder: {"runs": _trained(folder, _hashing_names(), "hashing_curve")}),
    "reproduce": (reproduce, _reproduce),
}


def shipped(name: str, folder: str | Path | None = None, **given) -> str:
    """Table ``name`` (a key of :data:`SHIPPED`) built from the results files in ``folder`` (default
    ``settings.checkpoint_dir``); ``given``: the builder's other arguments (``reproduce`` needs
    ``budget``, ``retrieval-results`` may take the speed benchmark's ``speed``)."""
    if name not in SHIPPED:
        raise KeyError(f"no shipped table {name!r}; the tables are {', '.join(SHIPPED)}")
    build, inputs = SHIPPED[name]
    return build(**inputs(_folder(folder)), **given)
