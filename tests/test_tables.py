"""clothlib.tables: one builder per results table, on results in memory or on the shipped files."""
import dataclasses
import json
import shutil

import pytest

from clothlib import settings, tables
from clothlib.hashing import SHIPPED_RUNS
from clothlib.results import MissingResultError

METRICS = {"overall_acc": 90.0, "mean_acc": 60.0, "mean_iu": 50.0, "boundary_f": 55.5}


def scores(top20: float, similar20: float = 70.0) -> dict:
    instance = {f"top{k}": float(k) for k in (1, 5, 10, 50, 100)} | {"top20": top20, "mAP": 12.0}
    return {"instance": instance, "similar": dict(instance, top20=similar20)}


def test_markdown_has_a_separator_cell_per_column():
    assert tables.markdown(["a", "b"], [[1, "x"]]) == "| a | b |\n|---|---|\n| 1 | x |"


def test_parsing_results_set_ours_beside_the_papers_best_rows():
    table = tables.parsing_results({"mine": METRICS, "other": METRICS}, {"mine": "here"})
    lines = table.splitlines()
    assert lines[0] == "| model | overall acc | mean acc | mean IU | source |"
    assert lines[2] == "| mine (ours) | 90.00 | 60.00 | 50.00 | here |"
    assert lines[3] == "| other (ours) | 90.00 | 60.00 | 50.00 | computed now |"
    assert "| net1 (paper, Caffe lr 1e-06) | 93.19 | 59.70 | 49.95 | paper Tables 1-2 (their split) |" in lines
    assert "| net1 + CRF (paper, Caffe lr 1e-07) | 93.02 | 61.80 | 47.49 | paper Table 3 |" in lines


def test_crf_results_show_fcn_and_crf_with_boundary_f_the_paper_has_none():
    result = {"photos": 40, "fcn": METRICS, "crf": dict(METRICS, mean_iu=52.25)}
    lines = tables.crf_results({"effnet_fcn": result}, {"effnet_fcn": "results file"}).splitlines()
    assert lines[0].endswith("| mean IU | boundary F | source |")
    assert lines[2] == "| effnet_fcn (ours) | 90.00 | 60.00 | 50.00 | 55.50 | results file, 40 photos |"
    assert lines[3] == "| effnet_fcn + dense CRF (ours) | 90.00 | 60.00 | 52.25 | 55.50 | results file, 40 photos |"
    assert "| net2 (paper, Caffe lr 1e-06) | 92.69 | 57.87 | 46.84 | - | paper Tables 1-2 (their split) |" in lines


def test_hashing_tasks_have_majority_and_paper_columns_and_dash_a_missing_head():
    majority = {"category": 21.03, "fine_category": 15.66}
    runs = {"a": {"model": "catt_net", "items": 9, "majority": majority, "category_acc": 77.2},
            "b": {"model": "catt3_net", "items": 9, "majority": majority, "category_acc": 76.6,
                  "fine_category_acc": 50.16}}
    table = tables.hashing_tasks(runs, "from here")
    assert table.splitlines()[0] == ("| task (test %) | majority class | catt_net | catt3_net | "
                                     "paper: catt_net / catt3_net |")
    assert "| category | 21.0 | 77.2 | 76.6 | 80.5 / 81.9 |" in table
    assert "| fine_category | 15.7 | – | 50.2 | – / 49.1 |" in table
    assert "\n\n9 test items, consumer views; from here." in table


def test_retrieval_rows_keep_float_features_at_48_bits_and_name_the_parsing_backbone():
    baselines = {"rows": {"raw_features": scores(30), "LSH-16": scores(9), "ITQ-16": scores(6)}}
    runs = {"hash_catt3_net_16": {"model": "catt3_net", "bits": 16, "hash": scores(49), "float": scores(70)},
            "hash_catt3_net_48_parsing": {"model": "catt3_net", "bits": 48, "hash": scores(55), "float": scores(73)}}
    rows = tables.retrieval_rows(baselines, runs)
    assert list(rows) == ["raw ImageNet backbone features (float, no training)", "LSH 16 bits (on the raw features)",
                          "ITQ 16 bits (on the raw features)", "catt3_net 16 bits",
                          "catt3_net 48 bits (parsing backbone)", "catt3_net float features (parsing backbone)"]
    assert rows["catt3_net float features (parsing backbone)"]["instance"]["top20"] == 73


def four_ways(top1: float) -> dict:
    """tie_aware_scores' shape: the same scores with ties in gallery order, expected, and the bounds."""
    return {"gallery_order": scores(55)["instance"] | {"top1": top1}, "expected": scores(54)["instance"],
            "optimistic": scores(60)["instance"] | {"top1": 19.3},
            "pessimistic": scores(50)["instance"] | {"top1": 4.9}}


def detailed_run() -> dict:
    stage = {"shortlist": 50, "bytes_per_item": 2054, "validation": {"10": {"top20": 70.0}, "50": {"top20": 80.0}},
             "instance": four_ways(26.3), "similar": four_ways(40.0)}
    return {"model": "catt3_net", "bits": 48, "hash": scores(55.3), "float": scores(73.6),
            "hash_ties": {"instance": four_ways(8.7), "similar": four_ways(23.0)},
            "two_stage": {"rule": {"candidates": [10, 50], "chosen_on": "val", "validation_queries": 480,
                                   "protocol": "instance", "tolerance_points": 0.5, "metric": "top20"},
                          "float": stage}}


def test_detailed_runs_gain_tie_bounds_and_two_stage_rows_between_codes_and_float_features():
    runs = {"hash_catt3_net_48": detailed_run(), "hash_simnet_48": detailed_run() | {"model": "simnet"}}
    rows = tables.retrieval_rows(None, runs, detailed=("hash_catt3_net_48",))
    assert list(rows)[:7] == ["catt3_net 48 bits", "catt3_net 48 bits, ties in random order (expected)",
                              "catt3_net 48 bits, ties: relevant first (upper bound)",
                              "catt3_net 48 bits, ties: relevant last (lower bound)",
                              "catt3_net 48 bits + float re-rank of the Hamming top 50 (2,054 bytes/item)",
                              "catt3_net float features", "simnet 48 bits"], "only the networks asked for"
    assert rows["catt3_net 48 bits, ties: relevant last (lower bound)"]["instance"]["top1"] == 4.9
    two_stage = rows["catt3_net 48 bits + float re-rank of the Hamming top 50 (2,054 bytes/item)"]
    assert two_stage["instance"]["top1"] == 26.3
    assert "| catt3_net 48 bits, ties: relevant first (upper bound) | 19.3 |" in tables.retrieval_results(rows)


def test_tie_views_show_the_four_orders_and_the_spread_of_the_bounds():
    table = tables.tie_views({"catt3_net 48 bits": detailed_run()["hash_ties"]}, columns=("top1", "top20"))
    assert "| catt3_net 48 bits | ties in gallery order (the package's rule) | 8.7 | 55.0 |" in table
    assert "|  | ties: relevant last (lower bound) | 4.9 | 50.0 |" in table
    assert "|  | *spread: upper - lower bound* | *14.4* | *10.0* |" in table


def test_shortlists_mark_the_chosen_length_and_say_where_it_was_chosen():
    text = tables.shortlists(detailed_run()["two_stage"])
    assert "| 10 | 70.0 |" in text and "| 50 | **80.0** |" in text
    assert "480 val queries, instance protocol" in text


def test_search_speed_and_notebook_budget_read_their_benchmark_files():
    speed = {"gallery": 1_000_000, "bits": 48, "feature_dims": 512, "top": 100, "threads": 1,
             "rows": [{"mode": "hamming faiss", "p50_ms": 8.02, "bytes_per_item": 6, "memory_bytes_per_item": 8.0},
                      {"mode": "float brute force", "p50_ms": 412.5, "bytes_per_item": 2048}]}
    sentence = tables.search_speed(speed)
    assert "1,000,000-item gallery" in sentence and "float brute force: 412.5 ms, 2,048 bytes/item." in sentence
    assert "hamming faiss: 8.0 ms, 6 bytes/item (8 in memory)" in sentence
    measured = {"fast": {"seconds": 25.3, "peak_mib": 1059}, "default": {"seconds": 92.0, "peak_mib": 1200}}
    budget = {"machine": "2 cores", "notebooks": {"06_retrieval.ipynb": measured}}
    line = tables.notebook_budget(budget, "06_retrieval.ipynb")
    assert "fast mode 25 s and 1,059 MiB; default mode 92 s and 1,200 MiB" in line
    assert "state was not recorded" in line, "an old file does not say whether the cache was cold"
    measured["fast"]["warm"] = {"seconds": 12.0, "peak_mib": 1000}
    line = tables.notebook_budget(budget, "06_retrieval.ipynb")
    assert "fast mode 25 s, again 12 s and 1,059 MiB" in line and "from a cold cache" in line
    assert "not been measured" in tables.notebook_budget(budget, "05_hashing_networks.ipynb")


def test_retrieval_results_end_with_the_papers_rows_in_percent():
    text = tables.retrieval_results({"mine": scores(55.31, 73.71)})
    assert "| mine | 1.0 | 5.0 | 10.0 | 55.3 | 50.0 | 100.0 | 12.0 | 73.7 |" in text
    assert "| paper: WTBI (their data) | 3.2 | 4.3 | 4.9 | 6.3 | 8.9 | – | – | – |" in text
    assert "End to end" not in text
    end_to_end = {"hashing": "catt3_net", "bits": 48, "fcn": {"top20": 42.28, "coverage": 86.7},
                  "fcn_crf": {"top20": 41.84, "coverage": 81.49}}
    assert "FCN-CRF: top-20 41.8 % with the garment's class found for 81 % of items" in \
        tables.retrieval_results({"mine": scores(55)}, end_to_end)


def test_retrieval_protocol_shows_the_chosen_protocol():
    table = tables.retrieval_protocol({"mine": scores(55.0, 73.0)}, "similar")
    assert table.splitlines()[0].startswith("| similar (%) | top1 |") and "| 73.0 |" in table


def test_course_map_has_launch_badges_only_for_an_explicit_repository():
    budget = {"machine": "a test box", "import_baseline_mib": 700,
              "notebooks": {"00_setup.ipynb": {"fast": {"seconds": 5.5, "peak_mib": 674}}}}
    plain = tables.course_map([("00_setup.ipynb", "Setup check")], budget)
    assert "| [00_setup.ipynb](notebooks/00_setup.ipynb) | Setup check | 6 s / 674 MiB | not measured |" in plain
    assert "mybinder" not in plain and "colab" not in plain and "on a test box" in plain
    notebooks = [("00_setup.ipynb", "Setup check"), ("05_hashing_networks.ipynb", "Hashing")]
    badged = tables.course_map(notebooks, budget, repository="me/course")
    for name, _ in notebooks:  # one setting, both badges, on every notebook's row
        row = next(line for line in badged.splitlines() if line.startswith(f"| [{name}]"))
        assert f"(https://mybinder.org/v2/gh/me/course/HEAD?labpath=notebooks%2F{name})" in row
        assert f"(https://colab.research.google.com/github/me/course/blob/main/notebooks/{name})" in row
        assert "colab-badge.svg" in row and "badge_logo.svg" in row


def test_reproduce_counts_net1_and_net2_once_they_train_side_by_side():
    hour = [{"seconds": 3600.0}]
    table = tables.reproduce({"notebooks": {}}, {"effnet_fcn": hour, "net1": hour * 2, "net2": hour}, [600.0], [])
    assert "3.0 h of training" in table and "10 min (`checkpoints/logs/c2s_pseudo.log`" in table
    assert "| `bash checkpoints/train_hashing.sh` | not run yet |" in table


def test_lr_sweep_sets_each_rate_beside_the_papers_and_marks_divergence():
    sweep = {"runs": [{"model": "net1", "caffe_lr": 1e-5, "lr": 3.6, "diverged": True},
                      {"model": "net1", "caffe_lr": 1e-6, "lr": 0.36, "diverged": False, "val_overall_acc": 80.0,
                       "val_mean_acc": 20.0, "val_mean_iu": 15.0},
                      {"model": "net1", "caffe_lr": 1e-9, "lr": 4.5e-5, "diverged": False, "background_only": True,
                       "val_overall_acc": 77.0, "val_mean_acc": 7.7, "val_mean_iu": 5.9},
                      {"model": "net2", "caffe_lr": 1e-6, "lr": 0.36, "diverged": True}]}
    lines = tables.lr_sweep(sweep, "net1").splitlines()
    assert lines[2:] == ["| Caffe 1e-05 | 3.6 | diverged | 80.0 / 14.0 / 9.5 |",
                         "| Caffe 1e-06 | 0.36 | 80.0 / 20.0 / 15.0 | 93.2 / 59.7 / 50.0 |",
                         "| Caffe 1e-09 | 4.5e-05 | 77.0 / 7.7 / 5.9 (background everywhere) | 87.0 / 40.6 / 33.3 |"]


def test_crf_search_shows_the_fcn_then_the_best_and_worst_settings():
    runs = [dict(METRICS, bilateral_sxy=float(i), bilateral_srgb=5.0, bilateral_weight=3.0, mean_iu=float(i))
            for i in range(10)]
    text = tables.crf_search({"split": "val", "photos": 100, "fcn": METRICS, "runs": runs}, best=2, worst=1)
    lines = text.splitlines()
    assert lines[0] == "The val split, 100 photos, 10 settings (best 2, worst 1):"
    assert [line.split(" | ")[0] for line in lines[4:]] == ["| *FCN alone*", "| 9", "| 8", "| 0"]


def test_eval_heights_mark_the_chosen_height():
    tuned = {"split": "val", "best": 640, "heights": [dict(METRICS, eval_height=h) for h in (416, 640)]}
    assert "| 640 (chosen) | 90.00 | 60.00 | 50.00 |" in tables.eval_heights(tuned, "net1")


def test_end_to_end_sets_parsed_queries_beside_ground_truth_boxes():
    truth = {"queries": 913} | {f"top{k}": 50.0 for k in (1, 5, 10, 20, 50, 100)}
    table = tables.end_to_end({"fcn": dict(truth, items=913, coverage=86.7)}, truth)
    assert "| ground truth | 913 | 100 | 50.0 |" in table and "| fcn | 913 | 87 | 50.0 |" in table


def test_shipped_tables_read_the_settings_checkpoint_folder(tmp_path, monkeypatch):
    for path in settings.checkpoint_dir.glob("*.json"):
        shutil.copy(path, tmp_path)
    metrics = json.loads((tmp_path / "net2.test.metrics.json").read_text())
    (tmp_path / "net2.test.metrics.json").write_text(json.dumps(dict(metrics, mean_iu=12.5)))
    monkeypatch.setattr(tables, "settings", dataclasses.replace(settings, checkpoint_dir=tmp_path))
    row = next(line for line in tables.shipped("parsing-results").splitlines() if line.startswith("| net2 (ours) |"))
    assert row.split(" | ")[3] == "12.50"


def test_a_missing_results_file_names_the_command_that_writes_it(tmp_path):
    with pytest.raises(MissingResultError, match="python -m clothlib.parsing evaluate --checkpoint checkpoints/"):
        tables.shipped("parsing-results", tmp_path)
    with pytest.raises(MissingResultError, match="bash checkpoints/train_hashing.sh"):
        tables.shipped("retrieval-results", tmp_path)
    (tmp_path / "effnet_fcn.curve.json").write_text("[]")
    with pytest.raises(FileNotFoundError, match="effnet_fcn.pt not found. Make it with `bash checkpoints/train_p"):
        tables.shipped("parsing-training", tmp_path)


def test_every_shipped_table_names_the_command_of_its_first_missing_file(tmp_path):
    """One lookup for every README table: an empty folder fails each with the command that writes what it
    reads first, and an unknown table name lists the known ones."""
    for name in tables.SHIPPED:
        with pytest.raises(MissingResultError, match="Write it with `(python|bash) "):
            tables.shipped(name, tmp_path, **({"budget": {"notebooks": {}}} if name == "reproduce" else {}))
    with pytest.raises(KeyError, match="no shipped table 'retrieval'; the tables are parsing-results, "):
        tables.shipped("retrieval")


def test_shipped_tables_cover_every_shipped_hashing_run():
    training = tables.shipped("hashing-training")
    assert training.count("| hash_") == len(SHIPPED_RUNS) == 9 and "| hash_catt3_net_48_parsing.pt | " in training
    assert "| hash_catt3_net_48_imagenet.pt | " in training
    assert tables.shipped("retrieval-results").count(" bits") >= 8
    shipped = tables.shipped("retrieval-results")
    assert "catt3_net 48 bits, ties in random order (expected)" in shipped
    assert "catt3_net 48 bits + asymmetric re-rank of the Hamming top" in shipped
    assert "catt3_net 48 bits + float re-rank of the Hamming top" in shipped


def test_quantisers_show_codes_beside_float_and_say_which_run_was_shipped():
    row = {"description": "d", "hamming_top1": 10.0, "hamming_top20": 60.0, "float_top1": 30.0, "float_top20": 80.0,
           "kept_of_float_top20": 75.0, "category_acc": 70.0}
    comparison = {"config": {"model": "catt3_net", "bits": 48}, "split": "val", "items": 480, "train_items": 3156,
                  "pseudo_photos": 0,
                  "rows": {"tanh": {**row, "train_seconds": 96.0, "shipped": True},
                           "itq": {**row, "train_seconds": 181.4, "shipped": False}}}
    lines = tables.quantisers(comparison).splitlines()
    assert lines[0].startswith("| quantiser (catt3_net, 48 bits; val %) | Hamming top1 | Hamming top20 |")
    assert lines[2] == "| `tanh`: d | 10.0 | 60.0 | 30.0 | 80.0 | 75.0 | 70.0 | 96 s (shipped checkpoint) |"
    assert lines[3].endswith("| 181 s |")
    assert lines[-1] == ("480 val items; ties in gallery order. Trained on 3,156 training items (0 pseudo-labelled "
                         "photos among their sources).")


def test_reproduce_gives_the_course_time_warm_and_bounds_a_first_run_by_the_cold_sum():
    hour = [{"seconds": 3600.0}]
    curves = {"effnet_fcn": hour, "net1": hour, "net2": hour}
    cold_only = {"notebooks": {"a": {"default": {"seconds": 600.0}}, "b": {"default": {"seconds": 300.0}}}}
    assert "| `make course` | 15 min (`benchmarks/course_budget.py`) |" in tables.reproduce(cold_only, curves, [], [])
    both = {"notebooks": {"a": {"default": {"seconds": 600.0, "warm": {"seconds": 120.0}}},
                          "b": {"default": {"seconds": 300.0, "warm": {"seconds": 60.0}}}}}
    assert "| `make course` | 3 min with the caches built; a first run less than 15 min," in tables.reproduce(
        both, curves, [], [])


def test_hashing_goals_compare_each_reached_number_with_its_target():
    def top(top1, top20):
        return {"top1": top1, "top20": top20}

    retrieval = {"model": "catt3_net", "bits": 48, "queries": 913,
                 "hash": {"instance": top(20, 66)}, "float": {"instance": top(30, 80)},
                 "two_stage": {"float": {"shortlist": 100, "instance": {"gallery_order": top(27, 79)}}}}
    metrics = {"category_acc": 84.9, "category_top3_acc": 97.0}
    runs = {"a": ([{"seconds": 3600.0}], 2**20), "b": ([{"seconds": 3600.0}], 21 * 2**20)}
    table = tables.hashing_goals(retrieval, metrics, {"fcn_crf": top(20, 55)}, runs, tuning_seconds=1800)
    verdicts = {line.split(" | ")[0].lstrip("| "): line.rsplit(" | ", 1)[1].rstrip(" |")
                for line in table.splitlines()[2:]}
    assert verdicts["Hamming top-20"] == "yes"                          # 66 >= 65
    assert verdicts["Hamming top-20 / float top-20"] == "no"            # 66 / 80 = 82.5 % < 85 %
    assert verdicts["two-stage top-1 below float top-1"] == "no"        # 3 points > 2
    assert verdicts["float features top-20"] == "yes" and verdicts["category top-1"] == "no"
    assert verdicts["end to end (queries cut by the parser + CRF) top-20"] == "yes"
    assert "2.50 h" in table and verdicts["largest shipped hashing checkpoint"] == "no"  # 21 MB > 20


def test_parsing_goals_compare_each_reached_number_with_its_target():
    plain = {"checkpoint": "effnet_fcn.pt", "split": "test", "photos": 201, "overall_acc": 93.2, "mean_iu": 52.99}
    refined = {"crf": {"mean_iu": 55.0}}
    chosen = {"bilateral_sxy": 40.0, "bilateral_srgb": 10.0}
    search = {"split": "val", "photos": 100, "time_bound_s": 0.3, "best": chosen,
              "runs": [{"bilateral_sxy": 80.0, "bilateral_srgb": 3.0, "cpu_s_p95": 0.2},  # not the chosen one
                       {**chosen, "cpu_s_p95": 0.31}]}
    tta = {"split": "val", "photos": 100, "threads": 2, "rows": {"none": {"wall_s_p95": 0.5}}}
    table = tables.parsing_goals(plain, refined, search, tta)
    verdicts = {line.split(" | ")[0].lstrip("| "): line.rsplit(" | ", 1)[1].rstrip(" |")
                for line in table.splitlines()[2:]}
    assert verdicts["overall accuracy"] == "yes" and verdicts["mean IU"] == "no"         # 93.2 >= 93.2; 52.99 < 53
    assert verdicts["mean IU with the dense CRF"] == "yes"
    assert verdicts["network time per photo, p95 over 100 val photos (2 threads)"] == "yes"  # 0.5 <= 0.5
    assert verdicts["CRF time per photo, p95 over 100 val photos (1 core)"] == "no"          # the chosen run: 0.31
    assert "0.310 s" in table and table.startswith("| goal (effnet_fcn.pt, 201 test photos) |")


def _val_metrics(checkpoint: str, mean_iu: float, belt: float, photos: int = 100) -> dict:
    return {"checkpoint": checkpoint, "split": "val", "photos": photos, "eval_height": 640, "overall_acc": 91.0,
            "mean_acc": 62.0, "mean_iu": mean_iu, "per_class_iou": {"null": 97.0, "belt": belt, "bag": 50.0}}


def test_parsing_levers_set_each_fine_tune_beside_the_shipped_parser_and_refuse_other_splits():
    shipped = _val_metrics("effnet_fcn.pt", 50.0, 10.0)
    curve = [{"seconds": 90.0}, {"seconds": 90.0}]
    table = tables.parsing_levers(shipped, {"+ lovasz": (_val_metrics("lovasz.pt", 51.25, 14.0), curve)}, classes=2)
    assert "| val, 100 photos, 640 px | overall acc | mean acc | mean IU | change | IoU belt | IoU bag |" in table
    assert "| effnet_fcn.pt (shipped) | 91.00 | 62.00 | 50.00 |  | 10.0 | 50.0 |  |" in table
    assert "| + lovasz | 91.00 | 62.00 | 51.25 | +1.25 | 14.0 | 50.0 | +3 min |" in table
    with pytest.raises(ValueError, match="not comparable"):
        tables.parsing_levers(shipped, {"+ lovasz": (_val_metrics("lovasz.pt", 51.0, 14.0, photos=8), curve)})
