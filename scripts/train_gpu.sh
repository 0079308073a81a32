#!/usr/bin/env bash
# Train several graders side by side on one GPU (the small network leaves most of a large GPU
# idle, so four processes share it). The shipped grader is one of these runs (16 epochs: longer runs
# peaked by epoch 8-24 and then overfitted); see docs/MODEL_CARD.md.
#
#   bash scripts/train_gpu.sh DATA INIT OUT BUDGET_SECONDS "SEED:LR" ...
#
# DATA is a dataset folder or a pack folder (python -m kneeai.training.pack); INIT the ImageNet
# weights file (empty: the pip package's). Each run writes OUT/s<SEED>/ and OUT/s<SEED>.log.
# TRAIN_ARGS (environment) is appended to every run's arguments, e.g. "--limit-per-grade 8" for a smoke test.
set -u
data=$1 init=$2 out=$3 budget=$4
shift 4
mkdir -p "$out"
for spec in "$@"; do
  seed=${spec%%:*} lr=${spec##*:}
  python3 -m kneeai.training.train --data "$data" --init "$init" --out "$out/s$seed" --seed "$seed" \
    --lr "$lr" --freeze-blocks 0 --epochs 16 --batch-size 64 --weight-decay 0.01 --warmup-epochs 2 \
    --noise-p 0.5 --time-budget "$budget" --threads 3 ${TRAIN_ARGS:-} >"$out/s$seed.log" 2>&1 &
done
wait
for spec in "$@"; do
  seed=${spec%%:*}
  echo "== seed $seed"
  grep -v '^epoch .* step' "$out/s$seed.log" | tail -n 8
done
