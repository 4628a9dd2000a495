#!/usr/bin/env bash
# A restarted from its fp16 insurance (epoch 19 + 41 steps; /work/runs/A was lost with its machine)
set -e
source /work/runs/mix.sh
cd /work/main
exec /work/main/.venv/bin/python -m colorcli train "${MIX[@]}" --generator effnet-lite2 --size 128 --ema 0.999 \
  --epoch-size 5000 --epochs 60 --decay-start 1000 --threads 2 --workers 2 --checkpoint-every 5 \
  --init-from /work/main/training-state/A-e019s41.generator.fp16.safetensors --seed 1 \
  --pretrain-epochs 60 --lr 5e-5 --lr-encoder 5e-6 --out /work/runs/A2
