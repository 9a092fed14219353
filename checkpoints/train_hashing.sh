#!/usr/bin/env bash
# Reproduce the shipped hashing checkpoints on a 2-core CPU. First, if the consumer-to-shop set
# lacks them, the 1,094 tag-only photos are parsed by the shipped effnet_fcn + CRF and added as
# pseudo-labelled training items (notebook 04; timed in logs/c2s_pseudo.log). The backbone's last stage is tuned
# for garments (once, from cached activations: backbone_tuned.pt). The backbone features of every view are
# computed once (first run) and cached; then every run of clothlib.hashing.SHIPPED_RUNS (the four
# networks at 48 bits, catt3_net at 16, 32 and 64 bits and on the parsing network's encoder), each
# one's test metrics and per-item records (`evaluate`: .test.metrics.json, .test.items.json), codes
# of the test and validation splits (`encode`, into data/cache/codes) and retrieval scores
# (.test.retrieval.json: Hamming with ties four ways, float, two-stage with the shortlist chosen on
# the validation codes); the untrained baselines of Table 5; the quantiser comparison and the ablation;
# the end-to-end queries through the parsing network; finally the generated tables. Finished checkpoints are skipped; the library
# computes, these command lines write.
#   bash checkpoints/train_hashing.sh [--commit]            (--commit: commit the results it wrote)
#   bash checkpoints/train_hashing.sh --retrieval-only      (re-score the shipped checkpoints' retrieval:
#       encode and evaluate only; no pseudo-labelling, no training, no other results file rewritten)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
LOGS=checkpoints/logs
mkdir -p "$LOGS"
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1  # no progress bars in the logs
COMMIT=0 RETRIEVAL_ONLY=0
for arg in "$@"; do
  case "$arg" in
    --commit) COMMIT=1 ;;
    --retrieval-only) RETRIEVAL_ONLY=1 ;;
    *) echo "usage: bash checkpoints/train_hashing.sh [--commit] [--retrieval-only]" >&2; exit 2 ;;
  esac
done

score_retrieval() {  # encode the test and validation splits of checkpoints/$1.pt, then score the test codes
  local name=$1
  for split in test val; do
    local out="data/cache/codes/$name"
    [ "$split" = test ] || out="${out}_$split"
    "$PY" -m clothlib.hashing encode --checkpoint "checkpoints/$name.pt" --split "$split" --out "$out" --quiet
  done
  "$PY" -m clothlib.retrieval evaluate --codes "data/cache/codes/$name" --validation "data/cache/codes/${name}_val" \
    --out "checkpoints/$name.test.retrieval.json"
}

if [ "$RETRIEVAL_ONLY" = 1 ]; then
  "$PY" -c "from clothlib.hashing import SHIPPED_RUNS, checkpoint_name
print('\n'.join(checkpoint_name(*run)[:-3] for run in SHIPPED_RUNS))" |
  while read -r name; do
    score_retrieval "$name" >"$LOGS/$name.test.retrieval.log" 2>&1
  done
  "$PY" tools/render_readme.py --only retrieval-results
  exit 0
fi

if ! "$PY" -c "import sys; from clothlib.data import c2s; sys.exit(c2s.load_meta()['config']['pseudo_photos'] == 0)" 2>/dev/null; then
  /usr/bin/time -f "wall %e s" "$PY" -m clothlib.parsing predict --checkpoint checkpoints/effnet_fcn.pt --crf --split tagged \
    --out data/predictions/tagged >"$LOGS/c2s_pseudo.log" 2>&1
  /usr/bin/time -f "wall %e s" "$PY" data_scripts/build_c2s.py --predictions data/predictions/tagged --quiet >>"$LOGS/c2s_pseudo.log" 2>&1
fi

# the backbone's last stage tuned for garments, once, from cached activations (instance IDs only; the
# networks on the ``tuned`` backbone train on its features)
if [ ! -f checkpoints/backbone_tuned.pt ]; then
  /usr/bin/time -f "wall %e s" "$PY" -m clothlib.hashing tune-backbone --out checkpoints/backbone_tuned.pt --quiet \
    >"$LOGS/backbone_tuned.log" 2>&1
fi

"$PY" -c "from clothlib.hashing import SHIPPED_RUNS; print('\n'.join(f'{m} {b} {k}' for m, b, k in SHIPPED_RUNS))" |
while read -r model bits backbone; do
  name=$("$PY" -c "from clothlib.hashing import checkpoint_name; print(checkpoint_name('$model', $bits, '$backbone')[:-3])")
  if [ ! -f "checkpoints/$name.pt" ]; then
    /usr/bin/time -f "wall %e s" "$PY" -m clothlib.hashing train --model "$model" --bits "$bits" --backbone "$backbone" \
      --out "checkpoints/$name.pt" --quiet >"$LOGS/$name.log" 2>&1
  fi
  "$PY" -m clothlib.hashing evaluate --checkpoint "checkpoints/$name.pt" --split test --quiet >"$LOGS/$name.test.log" 2>&1
  score_retrieval "$name" >>"$LOGS/$name.test.log" 2>&1
done
"$PY" -m clothlib.retrieval baselines --out checkpoints/retrieval_baselines.json >"$LOGS/retrieval_baselines.log" 2>&1
# the quantiser comparison (validation split; the runs it needs train into the cache folder)
"$PY" -m clothlib.hashing compare-quantisers --model catt3_net --bits 48 --backbone imagenet --quiet \
  >"$LOGS/quantisers.log" 2>&1
# what each change to the paper's network bought (validation split; runs it needs train into the cache folder)
"$PY" -m clothlib.hashing ablation --model catt3_net --bits 48 --quiet >"$LOGS/ablation.log" 2>&1
"$PY" -m clothlib.endtoend --out checkpoints/end_to_end.test.json >"$LOGS/end_to_end.log" 2>&1
"$PY" tools/render_readme.py
if [ "$COMMIT" = 1 ]; then
  git add checkpoints README.md
  git commit -m "Hashing checkpoints, test metrics and retrieval scores written by checkpoints/train_hashing.sh"
fi
