#!/usr/bin/env bash
# The levers tried for the last points of effnet_fcn's mean IU (README, after the test-time augmentation
# table; the rows of clothlib.tables.LEVERS), all judged on the validation split at the shipped inference
# height (640): the shipped network, four more epochs of cross-entropy fine-tuning (the control: a second
# poly cycle from rate 0.002, so any gain of the next row over it comes from the loss, not from the extra
# steps), and four epochs of Lovász-softmax fine-tuning (Berman et al. 2018, a surrogate of mean IU). The
# other lever, test-time augmentation, needs no training: `python -m clothlib.parsing tta --checkpoint
# checkpoints/effnet_fcn.pt` measures it (effnet_fcn.val.tta.json). The fine-tuned weights stay out of
# git (checkpoints/levers/*.pt, 6 MB each); their curves and validation metrics are committed.
# Interrupted runs resume.
#   bash checkpoints/parsing_levers.sh [--commit]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
LOGS=checkpoints/logs
OUT=checkpoints/levers
mkdir -p "$LOGS" "$OUT"
export TQDM_DISABLE=1 PYTHONUNBUFFERED=1
unset CLOTHLIB_FAST  # whole splits

[ -f checkpoints/effnet_fcn.val.metrics.json ] ||
  "$PY" -m clothlib.parsing evaluate --checkpoint checkpoints/effnet_fcn.pt --split val >"$LOGS/effnet_fcn.val.log" 2>&1
FINE_TUNE=(--model effnet_fcn --init checkpoints/effnet_fcn.pt --epochs 4 --lr 0.002 --eval-height 640)
for loss in cross_entropy lovasz_softmax; do
  name="effnet_fcn_$loss"
  [ -f "$OUT/$name.pt" ] ||
    "$PY" -m clothlib.parsing train "${FINE_TUNE[@]}" --loss "$loss" --out "$OUT/$name.pt" >>"$LOGS/$name.log" 2>&1
  [ -f "$OUT/$name.val.metrics.json" ] ||
    "$PY" -m clothlib.parsing evaluate --checkpoint "$OUT/$name.pt" --split val >"$LOGS/$name.val.log" 2>&1
done
if [ "${1:-}" = "--commit" ]; then
  git add checkpoints/effnet_fcn.val.metrics.json "$OUT"/*.json "$LOGS"/effnet_fcn*.log
  git commit -m "Parsing levers (validation): effnet_fcn fine-tuned 4 epochs with cross-entropy and with Lovasz-softmax, written by checkpoints/parsing_levers.sh"
fi
