"""Size and speed of an exported generator: ms per 256x256 image with ONNX Runtime on the CPU.

    python benchmarks/model_speed.py export/effnet-lite2-photos.onnx [--threads 2] [--size 256] [--runs 40]

Prints the file size in MB, then the median and fastest of RUNS single-image runs after warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from colorcli.models.runtime import create_session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    session, provider = create_session(args.model, "cpu", threads=args.threads)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 1, args.size, args.size)).astype(np.float32)
    for _ in range(5):
        session.run(None, {"L": x})
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        session.run(None, {"L": x})
        times.append((time.perf_counter() - start) * 1000)
    print(f"{args.model.name}: {args.model.stat().st_size / 1e6:.1f} MB; {args.size}x{args.size} on {provider} "
          f"with {args.threads} threads: median {statistics.median(times):.1f} ms, fastest {min(times):.1f} ms")


if __name__ == "__main__":
    main()
