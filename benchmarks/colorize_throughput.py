"""Speed and memory of `colorcli colorize` against the plain I/O floor, measured in one run.

8-bit: 12 grey 4000x3000 JPEGs (film-like grain, quality 92), made by this script.
  floor: cv2.imread + gray->BGR + cv2.imwrite at quality 95, one process per core;
  colorize: `colorcli colorize DIR --out OUT`, the whole command with the default model.
16-bit: one 12000x8000 (96 MP) grey 16-bit deflate TIFF.
  floor: tifffile reads it and writes the same pixels as 16-bit RGB with the same compression;
  colorize: the whole command. Peak RSS is that of the largest process (os.wait4), compared with the
  raw size of the 16-bit RGB output.
Floor and colorize runs alternate (--rounds), so both see the same machine load; each ratio is
floor seconds / colorize seconds of the same round. Then peak memory (RSS summed over the process
tree) of colorize on 100 and on 1,000 small files, which should be flat in the number of files.

    python benchmarks/colorize_throughput.py [--files 12] [--size 4000x3000] [--tiff-size 12000x8000]
        [--rounds 2] [--tiff-rounds 1] [--skip-8bit] [--skip-16bit] [--skip-memory]
        [--model M.onnx] [--provider auto]

Smaller sizes (for example --size 1600x1200 --tiff-size 3000x2000) make a quick run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

_FLOOR16 = """
import sys, numpy as np, tifffile
grey = tifffile.imread(sys.argv[1])
tifffile.imwrite(sys.argv[2], np.dstack([grey, grey, grey]), photometric="rgb", compression="zlib")
"""


def film_like(width: int, height: int, seed: int, peak: float) -> np.ndarray:
    """A grey picture (0..peak, float32) with structure and film grain: smooth tones, hard-edged
    shapes, fine texture, and grain that is spatially correlated and strongest in the mid-tones."""
    rng = np.random.default_rng(seed)
    y, x = np.ogrid[0:height, 0:width]
    u, v = (x / width).astype(np.float32), (y / height).astype(np.float32)
    tone = 0.45 + 0.25 * np.sin(6.0 * u + seed) * np.cos(4.0 * v) + 0.15 * v
    tone = tone + 0.05 * np.sin(u * width / 9.0) * np.sin(v * height / 13.0)  # fine texture
    picture = np.empty((height, width), np.float32)
    picture[:] = tone
    for _ in range(12):
        cx, cy = rng.integers(0, width), rng.integers(0, height)
        radius = int(rng.integers(min(width, height) // 20, min(width, height) // 5))
        cv2.circle(picture, (int(cx), int(cy)), radius, float(rng.uniform(0.05, 0.95)), -1)
    grain = cv2.GaussianBlur(rng.standard_normal((height, width), dtype=np.float32), (0, 0), 0.8)
    picture += grain * (0.09 * (0.3 + picture * (1.0 - picture)))
    return np.clip(picture, 0.0, 1.0) * np.float32(peak)


def make_jpegs(folder: Path, count: int, width: int, height: int, seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"scan{i:04d}.jpg"
        pixels = (film_like(width, height, seed + i, 255.0) + 0.5).astype(np.uint8)
        cv2.imwrite(str(path), pixels, [cv2.IMWRITE_JPEG_QUALITY, 92])
        paths.append(path)
    return paths


def make_tiff16(path: Path, width: int, height: int) -> Path:
    import tifffile

    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = (film_like(width, height, 7, 65535.0) + 0.5).astype(np.uint16)
    tifffile.imwrite(path, pixels, photometric="minisblack", compression="zlib")
    return path


def _floor_jpeg(args) -> None:
    src, dst = args
    grey = cv2.imread(str(src), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(dst), cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])


def run_floor_jpeg(paths: list[Path], out: Path) -> float:
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with mp.get_context("spawn").Pool(os.cpu_count()) as pool:
        pool.map(_floor_jpeg, [(p, out / p.name) for p in paths])
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


def run_command(command: list[str], env: dict | None = None) -> tuple[float, int, int]:
    """Wall seconds, peak RSS of the largest process in its tree (os.wait4: the command and every
    descendant it waited for) and peak RSS summed over the tree (sampled)."""
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors, env=env)
        tree = TreeMemory(process.pid)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        summed = tree.stop()
        if process.returncode != 0:
            errors.seek(0)
            raise SystemExit(f"{command[2:4]} failed ({process.returncode}): {errors.read().decode().strip()}")
    return seconds, usage.ru_maxrss * 1024, summed


def colorize_command(folder: Path, out: Path, model: str | None, provider: str) -> list[str]:
    command = [sys.executable, "-m", "colorcli", "colorize", str(folder), "--out", str(out), "--quiet"]
    if model:
        command += ["--model", model]
    if provider != "auto":
        command += ["--provider", provider]
    return command


def stage_seconds(report: Path) -> str:
    files = [r for r in json.loads(report.read_text())["files"] if r["status"] == "ok"]
    stages = files[0]["seconds"].keys() if files else []
    return ", ".join(f"{k} {statistics.mean(r['seconds'][k] for r in files):.3f}" for k in stages)


def bench_8bit(work: Path, args) -> None:
    width, height = args.size
    scans = make_jpegs(work / "scans", args.files, width, height)
    print(f"8-bit: {args.files} grey {width}x{height} JPEGs (quality 92), {os.cpu_count()} cores")
    ratios = []
    for round_ in range(args.rounds):
        floor = run_floor_jpeg(scans, work / f"floor{round_}")
        out = work / f"ours{round_}"
        ours, largest, _ = run_command(colorize_command(work / "scans", out, args.model, args.provider))
        ratios.append(floor / ours)
        print(f"  round {round_ + 1}: floor (cv2 decode+encode, {os.cpu_count()} processes) {floor:6.2f} s, "
              f"colorize {ours:6.2f} s, ratio {floor / ours:.2f}  (largest process {largest / 2**20:.0f} MiB)")
        print(f"    colorize per file, mean s: {stage_seconds(out / 'colorcli-report.json')}")
    print(f"8-bit colorize / cv2 floor: {' '.join(f'{r:.2f}' for r in ratios)}  "
          f"median {statistics.median(ratios):.2f}  (target >= 0.45, goal 0.6)")


def bench_16bit(work: Path, args) -> None:
    width, height = args.tiff_size
    folder = work / "masters"
    make_tiff16(folder / "master.tif", width, height)
    raw = width * height * 3 * 2
    print(f"16-bit: one grey {width}x{height} ({width * height / 1e6:.0f} MP) deflate TIFF; "
          f"raw 16-bit RGB output {raw / 2**20:.0f} MiB")
    for round_ in range(args.tiff_rounds):
        floor, floor_rss, _ = run_command([sys.executable, "-c", _FLOOR16, str(folder / "master.tif"),
                                           str(work / f"floor{round_}.tif")])
        out = work / f"masters-out{round_}"
        ours, ours_rss, summed = run_command(colorize_command(folder, out, args.model, args.provider))
        print(f"  round {round_ + 1}: floor (tifffile read + write RGB) {floor:6.2f} s, peak RSS {floor_rss / 2**20:.0f} MiB;"
              f" colorize {ours:6.2f} s, peak RSS of the largest process {ours_rss / 2**20:.0f} MiB"
              f" (tree {summed / 2**20:.0f} MiB)")
        print(f"    colorize stages, s: {stage_seconds(out / 'colorcli-report.json')}")
        print(f"16-bit colorize / tifffile floor: {floor / ours:.2f}  (target >= 0.6); largest process's peak RSS / "
              f"raw output: {ours_rss / raw:.2f}  (target <= 2); floor's {floor_rss / raw:.2f}")


def bench_memory(work: Path, args) -> None:
    folder = work / "many"
    make_jpegs(folder, 1000, 640, 480, seed=1)
    (work / "hundred").mkdir()
    for path in sorted(folder.iterdir())[:100]:
        os.link(path, work / "hundred" / path.name)
    _, _, peak100 = run_command(colorize_command(work / "hundred", work / "out100", args.model, args.provider))
    _, _, peak1000 = run_command(colorize_command(folder, work / "out1000", args.model, args.provider))
    print(f"peak RSS, process tree: 100 files {peak100 / 2**20:.0f} MiB, 1000 files {peak1000 / 2**20:.0f} MiB,"
          f" ratio {peak1000 / peak100:.2f}  (target: about 1)")


def _size(text: str) -> tuple[int, int]:
    width, height = (int(part) for part in text.lower().split("x"))
    return width, height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="default: colorize's own default model")
    parser.add_argument("--provider", default="auto")
    parser.add_argument("--files", type=int, default=12)
    parser.add_argument("--size", type=_size, default=(4000, 3000), help="WxH of the 8-bit scans")
    parser.add_argument("--tiff-size", type=_size, default=(12000, 8000), help="WxH of the 16-bit master")
    parser.add_argument("--rounds", type=int, default=2, help="alternating floor / colorize rounds, 8-bit")
    parser.add_argument("--tiff-rounds", type=int, default=1)
    parser.add_argument("--skip-8bit", action="store_true")
    parser.add_argument("--skip-16bit", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.skip_8bit:
            bench_8bit(work / "8bit", args)
        if not args.skip_16bit:
            bench_16bit(work / "16bit", args)
        if not args.skip_memory:
            bench_memory(work / "memory", args)


if __name__ == "__main__":
    main()
