"""Training throughput (images/s) of the pix2pix recipe: crop + flip + Lab + D step + G step.

    python benchmarks/train_speed.py                       # 32 and 256 px, ngf 64, batch 16
    python benchmarks/train_speed.py --device cuda --amp --sizes 256 --steps 50
    python benchmarks/train_speed.py --generator effnet-lite0 --sizes 128 256 [--l1-only]
    python benchmarks/train_speed.py --device cuda --amp --generator effnet-lite2 --sizes 128 --l1-only --untrained-encoder

Synthetic colour images in memory, so it measures the training step, not the disk.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import cv2
import numpy as np
import torch

from colorcli.training.data import Split, load_size_for
from colorcli.training.loop import Trainer, TrainOptions


def images(n: int, size: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, size=(n, 8, 8, 3), dtype=np.uint8)
    return np.stack([cv2.resize(img, (size, size), interpolation=cv2.INTER_CUBIC) for img in small])


def measure(size: int, args) -> float:
    with tempfile.TemporaryDirectory() as out:
        options = TrainOptions(dataset="bench", out=out, size=size, ngf=args.ngf, ndf=args.ndf,
                               batch_size=args.batch_size, device=args.device, amp=args.amp,
                               generator=args.generator, pretrain_epochs=1 if args.l1_only else 0,
                               # a Trainer marked as resumed skips the ImageNet weights (a checkpoint would
                               # replace them); the step's time does not depend on their values
                               resume=args.untrained_encoder)
        bank = images(args.batch_size * 2, load_size_for(size))
        trainer = Trainer(options, Split(bank, images(1, size), {"dataset": "synthetic"}))
        plan = trainer.train_batches.plan(trainer.data_rng)
        batch = lambda i: trainer.train_batches.batch(plan, (i % 2) * args.batch_size, args.batch_size)  # noqa: E731
        for i in range(args.warmup):
            trainer.train_step(batch(i))
        sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
        sync()
        start = time.perf_counter()
        for i in range(args.steps):
            trainer.train_step(batch(i))
        sync()
        return args.steps * args.batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--generator", default="unet", help="unet or effnet-lite0/1/2")
    parser.add_argument("--l1-only", action="store_true", help="time the L1 warm-up step (no discriminator)")
    parser.add_argument("--untrained-encoder", action="store_true",
                        help="effnet: time it without the ImageNet weight wheels (a machine that lacks them)")
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--ndf", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default: 20 at <= 64 px, else 2)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--amp", action="store_true")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    steps = args.steps
    for size in args.sizes:
        args.steps = steps or (20 if size <= 64 else 2)
        rate = measure(size, args)
        device = "cuda" if (args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())) else "cpu"
        print(f"{size:4d} px  {args.generator}{' (L1 only)' if args.l1_only else ''}  ngf {args.ngf}  batch {args.batch_size}  {device}"
              f"{' amp' if args.amp else ''}  threads {torch.get_num_threads()}: {rate:8.1f} images/s")


if __name__ == "__main__":
    main()
