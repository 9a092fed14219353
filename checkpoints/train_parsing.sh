#!/usr/bin/env bash
# Reproduce the shipped parsing checkpoints on a 2-core CPU, in the order the course needs them:
# effnet_fcn, its inference height (chosen on the validation split) and its CRF tuning; the
# learning-rate sweep (paper Tables 1-2) for net1 and net2; net1 and net2 side by side (one core
# each), at the rate the sweep found best for the two on the validation split; the CRF tuning of net1;
# finally the test-split metrics of every model with and without the CRF (per photo too), and the
# generated tables. The library computes; each `python -m clothlib.parsing` command saves what it
# computed (see checkpoints/README.md for which file each writes). Interrupted runs resume where they stopped.
#   bash checkpoints/train_parsing.sh [--commit]     (--commit: commit the results it wrote)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
LOGS=checkpoints/logs
mkdir -p "$LOGS"
export TQDM_DISABLE=1 PYTHONUNBUFFERED=1
unset CLOTHLIB_FAST  # whole splits: the commands save results beside a checkpoint only for a whole split

train() {  # train MODEL [flags...]: skip if the released checkpoint already exists
  local name=$1; shift
  [ -f "checkpoints/$name.pt" ] && return 0
  "$PY" -m clothlib.parsing train --model "$name" "$@" --out "checkpoints/$name.pt" >>"$LOGS/$name.log" 2>&1
}

best_lr() {  # one rate for net1 and net2: the best validation mean IU of the sweep, averaged over both
  "$PY" -c 'import json; from clothlib.parsing.sweep import best_rate
print(best_rate(json.load(open("checkpoints/lr_sweep.json"))["runs"]))'
}

tune_height() {  # choose the inference height of MODEL on the validation split and re-release it (skip if done)
  [ -f "checkpoints/$1.eval_height.json" ] && return 0
  "$PY" -m clothlib.parsing tune-height --checkpoint "checkpoints/$1.pt" >"$LOGS/$1.tune_height.log" 2>&1
}

crf_search() {  # tune the CRF of MODEL on the validation split (skip if done)
  [ -f "checkpoints/$1.crf.json" ] && return 0
  "$PY" -m clothlib.parsing crf-search --checkpoint "checkpoints/$1.pt" >"$LOGS/$1.crf_search.log" 2>&1
}

time train effnet_fcn --epochs 24
tune_height effnet_fcn   # before the CRF: the CRF is tuned on the probabilities at this height
crf_search effnet_fcn
# net1 and net2 train from scratch at a reduced size; the sweep uses the same size (so its rates
# carry over) on 240 training photos for 4 epochs, one process per model, one core each.
SCRATCH=(--crop 256 176 --base-height 352 --workers 0)
for model in net1 net2; do
  OMP_NUM_THREADS=1 "$PY" -m clothlib.parsing sweep --models "$model" "${SCRATCH[@]}" --epochs 4 --max-photos 240 \
    --out checkpoints/lr_sweep.json >>"$LOGS/lr_sweep.$model.log" 2>&1 &
done
wait
# One rate for both (so net2 - net1 is the effect of dropout alone, as in the paper, whose best rate
# was the same for both), side by side, one core each. `train` skips a released checkpoint: the shipped
# net1.pt and net2.pt predate the per-image translation of the sweep's rates, so delete them (and their
# .eval_height.json, net1.crf.json) to retrain them at the rate the corrected sweep chooses.
LR=$(best_lr)
OMP_NUM_THREADS=1 train net1 "${SCRATCH[@]}" --epochs 22 --lr "$LR" &
OMP_NUM_THREADS=1 train net2 "${SCRATCH[@]}" --epochs 22 --lr "$LR" &
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
"$PY" tools/render_readme.py
if [ "${1:-}" = "--commit" ]; then
  git add checkpoints README.md
  git commit -m "Parsing checkpoints, test metrics and LR sweep written by checkpoints/train_parsing.sh"
fi
