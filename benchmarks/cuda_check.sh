#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: the CUDA paths that a CPU machine (and CI) never runs.
#   1. `colorcli train --device cuda --amp` on small synthetic photos, whole and stopped by SIGTERM
#      inside its second epoch then resumed (cuDNN picks kernels by speed, so the two are compared,
#      not required to be bit-identical as they are on the CPU);
#   2. training throughput on the GPU (benchmarks/train_speed.py), fp32 and --amp;
#   3. export of the trained run, then colorize with --provider auto and --provider cuda, which must
#      say which provider really loaded (or why CUDA could not).
#
#     bash benchmarks/cuda_check.sh [WORKDIR]
#
# Prints a summary; exits non-zero at the first check that fails. DEVICE=cpu AMP= EPOCH_SIZE=400 dry-runs
# the training and colorize checks on a CPU machine; ONLY_TRAINING=1 stops after check 1.
set -u
W=${1:-/tmp/colorcli-cuda-check}
DEVICE=${DEVICE-cuda}; AMP=${AMP---amp}; EPOCH_SIZE=${EPOCH_SIZE-8000}
rm -rf "$W"; mkdir -p "$W"
CC="python3 -m colorcli"
fail() { echo "CHECK FAILED: $*"; exit 1; }

python3 - "$W" <<'PY'
import sys
from pathlib import Path

import cv2
import numpy as np

root = Path(sys.argv[1])
rng = np.random.default_rng(0)
for folder, n in (("photos/a", 48), ("photos/b", 24), ("val", 6), ("gray", 4)):
    (root / folder).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        small = rng.integers(0, 256, size=(4, 5, 3), dtype=np.uint8)
        image = cv2.resize(small, (int(rng.integers(96, 160)), int(rng.integers(96, 160))), interpolation=cv2.INTER_CUBIC)
        if folder == "gray":
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        cv2.imwrite(str(root / folder / f"p{i:03d}.png"), image)
PY
[ $? = 0 ] || fail "synthetic photos"
[ "$DEVICE" = cpu ] || nvidia-smi -L || fail "nvidia-smi"

TRAIN=(train --dataset "$W/photos/a:0.5" --dataset "$W/photos/b:0.5" --val-dir "$W/val" --size 64 --ngf 16 --ndf 16
       --batch-size 8 --epoch-size "$EPOCH_SIZE" --epochs 2 --pretrain-epochs 1 --ema 0.9 --device "$DEVICE" $AMP
       --seed 3 --prepared-dir "$W/prepared" --log-every 1)
echo "== 1. train with --amp, whole, twice (cuDNN's kernels need not give the same bits twice)"
for run in whole again; do
  $CC "${TRAIN[@]}" --out "$W/$run" > "$W/$run.log" 2>&1 || { tail -20 "$W/$run.log"; fail "train $run"; }
done
grep -E "training on" "$W/whole.log"

echo "== 1. the same, stopped by SIGTERM inside epoch 2, then resumed"
$CC "${TRAIN[@]}" --out "$W/split" > "$W/split.log" 2>&1 &
pid=$!  # python's own pid: the signal must reach the trainer, not a shell
for _ in $(seq 600); do grep -q "^epoch 2/2 step" "$W/split.log" && break; sleep 0.1; done
kill -TERM $pid; wait $pid; rc=$?
grep SIGTERM "$W/split.log"
[ $rc = 143 ] || fail "SIGTERM gave exit $rc, not 143"
$CC train --out "$W/split" --resume > "$W/resume.log" 2>&1 || { tail -20 "$W/resume.log"; fail "resume"; }
python3 - "$W" <<'PY' || fail "compare"
import json, sys
from pathlib import Path

from safetensors.numpy import load_file

root = Path(sys.argv[1])
def last(run):
    pointer = json.loads((root / run / "last.json").read_text())
    return pointer, load_file(root / run / pointer["files"]["generator"])
def metrics(run):
    return [json.loads(line) for line in (root / run / "metrics.jsonl").read_text().splitlines()]
(pa, a) = last("whole")
floats = [k for k in a if a[k].dtype.kind == "f"]
print(f"whole: val CIEDE2000 {metrics('whole')[-1]['val_ciede2000']:.4f}; largest weight "
      f"{max(float(abs(a[k]).max()) for k in floats):.3g}")
for run in ("again", "split"):
    pb, b = last(run)
    assert pa["epoch"] == pb["epoch"] == 2 and [r["epoch"] for r in metrics(run)] == [1, 2], run
    diff = max(float(abs(a[k].astype("float64") - b[k]).max()) for k in floats)
    print(f"{run}: generator max |difference| from whole {diff:.3g}; val CIEDE2000 {metrics(run)[-1]['val_ciede2000']:.4f}")
PY

if [ "$DEVICE" = cuda ] && [ -z "${ONLY_TRAINING:-}" ]; then
echo "== 2. training throughput on the GPU"
python3 benchmarks/train_speed.py --device cuda --sizes 256 --steps 40 --warmup 5 || fail "train_speed fp32"
python3 benchmarks/train_speed.py --device cuda --amp --sizes 256 --steps 40 --warmup 5 || fail "train_speed amp"
python3 benchmarks/train_speed.py --device cuda --amp --sizes 256 --steps 20 --warmup 5 --batch-size 64 || fail "train_speed amp b64"
for b in 16 128; do  # the photo recipe's step (lite2, L1 warm-up, 128 px), at its batch and a GPU-sized one
  python3 benchmarks/train_speed.py --device cuda --amp --generator effnet-lite2 --l1-only --untrained-encoder \
    --sizes 128 --steps 30 --warmup 5 --batch-size $b || fail "train_speed lite2 b$b"
done
fi

[ -z "${ONLY_TRAINING:-}" ] || exit 0
echo "== 3. export, then colorize with --provider auto and cuda"
$CC export "$W/whole" --out "$W/whole.onnx" > "$W/export.log" 2>&1 || { tail -20 "$W/export.log"; fail "export"; }
tail -2 "$W/export.log"
$CC colorize "$W/gray" --out "$W/out-auto" --model "$W/whole.onnx" > "$W/auto.log" 2>&1 || { tail "$W/auto.log"; fail "colorize auto"; }
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print('auto ran on', r['provider'])" "$W/out-auto/colorcli-report.json"
$CC colorize "$W/gray" --out "$W/out-cuda" --model "$W/whole.onnx" --provider cuda > "$W/cuda.log" 2>&1
rc=$?
echo "--provider cuda: exit $rc; last line: $(tail -1 "$W/cuda.log")"
if grep -q Traceback "$W/cuda.log"; then fail "traceback from --provider cuda"; fi
python3 -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())"
echo "ALL CHECKS RAN"
