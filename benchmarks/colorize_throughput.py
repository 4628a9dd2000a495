"""Throughput and memory of `colorcli colorize`, measured against two baselines in one run.

(a) floor: decode + encode only (the same imageio code, RGB JPEG out), one process per core;
(b) `colorcli colorize` as a user runs it (a real subprocess, default workers);
(c) naive: a single-process loop written the way published demos are: Pillow, float64 Lab with
    skimage, one session.run per image, with the same ONNX model.
Then peak memory (RSS summed over the whole process tree) of colorize on 100 and on 1,000 files.

    python benchmarks/colorize_throughput.py [--model M.onnx] [--files 24] [--naive-files 4] [--provider auto]

Without --model it uses the embedded default model; where none ships yet, it exports an untrained
U-Net (ngf 32, 8 levels, 256 px: the shipping architecture's cost, random weights) with the training
extra, since speed does not depend on the weights. Needs the dev extra (skimage) for the naive loop.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_scans(folder: Path, count: int, width: int, height: int, seed: int = 0) -> list[Path]:
    """Grey JPEG 'scans' with structure (gradients, noise, shapes) so encoders do real work."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    paths = []
    for i in range(count):
        base = 128 + 60 * np.sin(x / (50 + 7 * i)) * np.cos(y / (70 + 5 * i))
        noise = rng.normal(0, 12, (height, width)).astype(np.float32)
        pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
        path = folder / f"scan{i:04d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths


def _floor_one(args) -> None:
    from colorcli import imageio

    src, dst = args
    image = imageio.read_image(src)
    pixels = image.pixels if image.pixels.ndim == 3 else np.repeat(image.pixels[:, :, None], 3, axis=2)
    imageio.write_image(dst, pixels, image)


def run_floor(paths: list[Path], out: Path) -> float:
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with mp.get_context("spawn").Pool(os.cpu_count()) as pool:
        pool.map(_floor_one, [(p, out / p.name) for p in paths])
    return time.perf_counter() - start


class TreeMemory:
    """Samples the summed RSS of a process and its descendants; keeps the peak."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self) -> list[int]:
        pids, frontier = [], [self.pid]
        while frontier:
            pid = frontier.pop()
            pids.append(pid)
            try:
                frontier += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
            except OSError:
                pass
        return pids

    def _rss(self) -> int:
        total = 0
        for pid in self._tree():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            except OSError:
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.02)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def run_colorize(folder: Path, out: Path, model: str, provider: str) -> tuple[float, int]:
    command = [sys.executable, "-m", "colorcli", "colorize", str(folder), "--out", str(out), "--model", model,
               "--provider", provider, "--quiet"]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    memory = TreeMemory(process.pid)
    _, stderr = process.communicate()
    seconds = time.perf_counter() - start
    peak = memory.stop()
    if process.returncode != 0:
        raise SystemExit(f"colorize failed ({process.returncode}): {stderr.strip()}")
    return seconds, peak


def run_naive(paths: list[Path], out: Path, model: str, provider: str) -> float:
    from skimage import color as skcolor
    from skimage.transform import resize

    from colorcli.runtime import create_session, read_model_info

    session, _ = create_session(Path(model), provider)
    size = read_model_info(session, Path(model)).native_size
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for path in paths:
        rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255.0
        lab = skcolor.rgb2lab(rgb)
        L = lab[:, :, 0]
        small = np.asarray(Image.fromarray(L.astype(np.float32)).resize((size, size), Image.BILINEAR))
        ab = session.run(None, {"L": (small / 50.0 - 1.0)[None, None].astype(np.float32)})[0][0] * 110.0
        ab_full = resize(ab.transpose(1, 2, 0), L.shape, order=1)
        result = skcolor.lab2rgb(np.dstack([L, ab_full]))
        Image.fromarray((result * 255).round().astype(np.uint8)).save(out / path.name, quality=95)
    return time.perf_counter() - start


def benchmark_model(workdir: Path) -> str:
    """The embedded default, or an untrained export of the shipping architecture."""
    from colorcli.errors import ModelError
    from colorcli.registry import resolve_model

    try:
        return str(resolve_model(None))
    except ModelError:
        pass
    from colorcli.training.checkpoint import save_checkpoint
    from colorcli.training.export import export_model
    from colorcli.training.models import build_generator, unet_config

    config = {"model": unet_config(256, ngf=32), "normalisation": {"input": "L/50-1", "output": "ab/110"},
              "training": {"note": "untrained: benchmark of speed only"}, "epoch": 0, "metrics": {}}
    generator = build_generator(config["model"])
    save_checkpoint(workdir / "run", "last", generator, config)
    target = workdir / "unet32-untrained.onnx"
    export_model(workdir / "run", target)
    return str(target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None)
    parser.add_argument("--files", type=int, default=24, help="12 MP scans for the floor and colorize runs")
    parser.add_argument("--naive-files", type=int, default=4,
                        help="of those, how many the (slow) naive loop does; speeds are compared in MP/s")
    parser.add_argument("--provider", default="auto")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = args.model or benchmark_model(work)
        print(f"model: {model}; {os.cpu_count()} cores; 12 MP grey JPEG scans (4000x3000)")
        scans = make_scans(work / "scans", args.files, 4000, 3000)
        megapixels = args.files * 12.0
        floor = run_floor(scans, work / "floor")
        ours, peak_big = run_colorize(work / "scans", work / "ours", model, args.provider)
        naive_count = min(args.naive_files, args.files)
        naive = run_naive(scans[:naive_count], work / "naive", model, args.provider)
        speed = {"floor": megapixels / floor, "ours": megapixels / ours, "naive": naive_count * 12.0 / naive}
        print(f"(a) floor, decode+encode, {os.cpu_count()} processes: {floor:6.2f} s for {args.files} files  "
              f"{speed['floor']:6.1f} MP/s")
        print(f"(b) colorcli colorize (wall time of the command): {ours:6.2f} s for {args.files} files  "
              f"{speed['ours']:6.1f} MP/s  peak RSS {peak_big / 2**20:.0f} MiB")
        print(f"(c) naive single-process demo loop:       {naive:6.2f} s for {naive_count} files  {speed['naive']:6.1f} MP/s")
        print(f"colorize / floor speed = {speed['ours'] / speed['floor']:.2f}  (target >= 0.45)")
        print(f"colorize / naive speed = {speed['ours'] / speed['naive']:.2f}  (target >= 3)")
        if not args.skip_memory:
            small = make_scans(work / "many", 1000, 640, 480, seed=1)
            (work / "hundred").mkdir()
            for path in small[:100]:
                os.link(path, work / "hundred" / path.name)
            _, peak100 = run_colorize(work / "hundred", work / "out100", model, args.provider)
            _, peak1000 = run_colorize(work / "many", work / "out1000", model, args.provider)
            print(f"peak RSS, process tree: 100 files {peak100 / 2**20:.0f} MiB, 1000 files {peak1000 / 2**20:.0f} MiB,"
                  f" ratio {peak1000 / peak100:.2f}  (target: about 1)")


if __name__ == "__main__":
    main()
