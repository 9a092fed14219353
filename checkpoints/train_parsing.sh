#!/usr/bin/env bash
# Reproduce the shipped parsing checkpoints on a 2-core CPU, in the order the course needs them:
# effnet_fcn and its inference height (chosen on the validation split); then the learning-rate sweep (paper Tables 1-2) beside the CRF tuning of effnet_fcn;
# net1 and net2 side by side (one core each) at the rate the sweep found best on the validation
# split; the CRF tuning of net1; finally the test-split metrics of every model with and without
# the CRF, and the generated tables. Interrupted runs resume where they stopped.
#   bash checkpoints/train_parsing.sh [--commit]     (--commit: commit the results it wrote)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
LOGS=checkpoints/logs
mkdir -p "$LOGS"
export TQDM_DISABLE=1 PYTHONUNBUFFERED=1

train() {  # train MODEL [flags...]: skip if the released checkpoint already exists
  local name=$1; shift
  [ -f "checkpoints/$name.pt" ] && return 0
  "$PY" -m clothlib.parsing train --model "$name" "$@" --out "checkpoints/$name.pt" >>"$LOGS/$name.log" 2>&1
}

best_lr() {  # the sweep's best rate (validation mean IU) for MODEL, among runs that did not diverge
  "$PY" - "$1" <<'PY'
import json, sys
runs = [r for r in json.load(open("checkpoints/lr_sweep.json"))["runs"] if r["model"] == sys.argv[1] and not r["diverged"]]
print(max(runs, key=lambda r: r["val_mean_iu"])["lr"])
PY
}

tune_height() {  # choose the inference height of MODEL on the validation split (skip if done)
  [ -f "checkpoints/$1.eval_height.json" ] && return 0
  "$PY" -m clothlib.parsing tune-height --checkpoint "checkpoints/$1.pt" >"$LOGS/$1.tune_height.log" 2>&1
}

crf_search() {  # tune the CRF of MODEL on the validation split (skip if done)
  [ -f "checkpoints/$1.crf.json" ] && return 0
  "$PY" -m clothlib.parsing crf-search --checkpoint "checkpoints/$1.pt" >"$LOGS/$1.crf_search.log" 2>&1
}

time train effnet_fcn --epochs 24
tune_height effnet_fcn   # before the CRF: the CRF is tuned on the probabilities at this height
OMP_NUM_THREADS=1 "$PY" -m clothlib.parsing sweep --models net1 net2 --epochs 2 --max-photos 80 --workers 0 \
  --out checkpoints/lr_sweep.json >>"$LOGS/lr_sweep.log" 2>&1 &
crf_search effnet_fcn &
wait
# One rate for both, net1's best: net2 is net1 plus dropout (the paper's best rate was the same for
# both), and the short sweep leaves net2's non-diverged runs tied at "all background".
SCRATCH=(--epochs 10 --crop 256 176 --base-height 352 --workers 0 --lr "$(best_lr net1)")
OMP_NUM_THREADS=1 train net1 "${SCRATCH[@]}" &
OMP_NUM_THREADS=1 train net2 "${SCRATCH[@]}" &
wait
tune_height net1
tune_height net2
crf_search net1
for model in effnet_fcn net1 net2; do
  "$PY" -m clothlib.parsing evaluate --checkpoint "checkpoints/$model.pt" --split test >"$LOGS/$model.test.log" 2>&1
done
for model in effnet_fcn net1; do
  "$PY" -m clothlib.parsing crf-eval --checkpoint "checkpoints/$model.pt" --split test >"$LOGS/$model.crf_eval.log" 2>&1
done
"$PY" -m clothlib.report
if [ "${1:-}" = "--commit" ]; then
  git add checkpoints README.md
  git commit -m "Parsing checkpoints, test metrics and LR sweep written by checkpoints/train_parsing.sh"
fi
