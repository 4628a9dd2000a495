#!/usr/bin/env bash
# rule 35: export a checkpoint (TAG.json or generator .safetensors) at 192 px and sweep it on the select halves
# usage: sweep.sh NAME CHECKPOINT
set -e
NAME=$1; CKPT=$2; cd /work/main; . .venv/bin/activate
[ -f /work/runs/eval/$NAME.onnx ] || colorcli export "$CKPT" --out /work/runs/eval/$NAME.onnx --inference-size 192
python benchmarks/photo_protocol.py /work/runs/eval/$NAME.onnx --data /work/shared/data --vivid /work/data/extra-eval \
  --half select --size 192 --gains 0.5 0.6 0.7 0.8 0.9 1 1.1 1.2 1.3 1.4 1.6 1.8 --at-colourfulness 24 28 32 \
  --jobs 2 --cache /work/runs/eval/$NAME-select.jsonl --json /work/runs/eval/$NAME-select.json
