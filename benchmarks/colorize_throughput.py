"""Speed and memory of `colorcli colorize` against the plain I/O floor, measured in one run.

8-bit: 12 grey 4000x3000 JPEGs (film-like grain, quality 92), made by this script.
  floor: cv2.imread + gray->BGR + cv2.imwrite at quality 95, one process per core, run as a command
  (python starts, imports OpenCV, runs a spawned pool: each process a new interpreter) like colorize; the
  pool's own time is shown too, and the same floor with a forked pool (no interpreter start per process);
  colorize: `colorcli colorize DIR --out OUT`, the whole command with the default model.
16-bit: one 12000x8000 (96 MP) grey 16-bit deflate TIFF.
  floor: tifffile reads it and writes the same pixels as 16-bit RGB with the same compression (with
  tifffile's default threads, as a user would; also shown with one thread per core);
  colorize: the whole command. Peak RSS is that of the largest process (its VmHWM), compared with the
  raw size of the 16-bit RGB output.
Floor and colorize runs alternate (--rounds), so both see the same machine load; each ratio is
floor seconds / colorize seconds of the same round. Then peak memory (RSS summed over the process
tree) of colorize on 100 and on 1,000 small files, which should be flat in the number of files.

    python benchmarks/colorize_throughput.py [--files 12] [--size 4000x3000] [--tiff-size 12000x8000]
        [--rounds 3] [--tiff-rounds 1] [--skip-8bit] [--skip-16bit] [--skip-memory]
        [--model M.onnx] [--provider auto] [--baseline OLD_SOURCE_TREE]

Smaller sizes (for example --size 1600x1200 --tiff-size 3000x2000) make a quick run. --baseline
(comparing outputs) needs scikit-image, from the dev extra.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

_FLOOR16 = """
import sys, numpy as np, tifffile
workers = int(sys.argv[3]) or None
grey = tifffile.imread(sys.argv[1], maxworkers=workers)
tifffile.imwrite(sys.argv[2], np.dstack([grey, grey, grey]), photometric="rgb", compression="zlib",
                 maxworkers=workers)
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


def floor_jpeg(folder: Path, out: Path, start_method: str = "spawn") -> None:
    """The floor as a command (run by this script with --floor-jpeg): the pool's own seconds are left
    in OUT/pool-seconds."""
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with mp.get_context(start_method).Pool(os.cpu_count()) as pool:
        pool.map(_floor_jpeg, [(p, out / p.name) for p in sorted(folder.glob("*.jpg"))])
    (out / "pool-seconds").write_text(f"{time.perf_counter() - start:.4f}")


class TreeMemory:
    """Samples a process and its descendants: the peak of their summed RSS, and each one's own peak
    (VmHWM), whose largest is the peak RSS of the largest process."""

    def __init__(self, pid: int):
        self.pid, self.peak, self.largest = pid, 0, 0
        self._own_cmdline = Path("/proc/self/cmdline").read_bytes()

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

    def sample(self) -> None:
        total = 0
        for pid in self._tree():
            try:
                if pid == self.pid and Path(f"/proc/{pid}/cmdline").read_bytes() == self._own_cmdline:
                    continue  # forked, not yet exec'd: its high-water mark is still this script's
                status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
            except (OSError, ValueError):
                continue
            total += int(status.get("VmRSS", "0 kB").split()[0]) * 1024
            self.largest = max(self.largest, int(status.get("VmHWM", "0 kB").split()[0]) * 1024)
        self.peak = max(self.peak, total)


def _become_subreaper() -> None:
    """Orphans of the commands run here become this process's children (Linux), to be reaped and counted."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def _reap_orphans() -> None:
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def run_command(command: list[str], env: dict | None = None) -> tuple[float, int, int, float]:
    """Wall seconds, peak RSS of the largest process in its tree, peak RSS summed over the tree
    (sampled every 10 ms until the command exits: a worker's last 10 ms can escape), and CPU seconds
    (user + system) of the whole tree: on a shared machine the wall time depends on the other load,
    the CPU time much less. Processes the command leaves behind (a multiprocessing fork server ends
    just after its parent) are reaped here, so their CPU counts too."""
    _become_subreaper()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors, env=env or source_env(REPO),
                                   cwd=tempfile.gettempdir())
        memory = TreeMemory(process.pid)
        while process.poll() is None:
            memory.sample()
            time.sleep(0.01)
        seconds = time.perf_counter() - start
        if process.returncode != 0:
            errors.seek(0)
            raise SystemExit(f"{command[2:4]} failed ({process.returncode}): {errors.read().decode().strip()}")
    _reap_orphans()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return seconds, memory.largest, memory.peak, cpu


def colorize_command(folder: Path, out: Path, model: str | None, provider: str) -> list[str]:
    command = [sys.executable, "-m", "colorcli", "colorize", str(folder), "--out", str(out), "--quiet"]
    if model:
        command += ["--model", model]
    if provider != "auto":
        command += ["--provider", provider]
    return command


REPO = Path(__file__).resolve().parents[1]


def source_env(source: Path) -> dict:
    """The environment that makes `python -m colorcli` run the colorcli in `source` (commands run in a
    temp folder, so the current folder cannot shadow it)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(source), os.environ.get("PYTHONPATH", "")])}


def compare_outputs(ours: Path, baseline: Path, step: int) -> str:
    """Mean and largest per-file mean CIEDE2000 between two runs' outputs (every step-th pixel, exact
    float Lab from scikit-image: OpenCV's float Lab is coarser than a 16-bit level), the largest
    per-pixel one, and their total sizes."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    from colorcli.io import images

    means, worst, sizes = [], 0.0, [0, 0]
    for new in sorted(p for p in ours.iterdir() if p.suffix in (".jpg", ".tif")):
        old = baseline / new.name
        a, b = (images.read_image(p).pixels[::step, ::step] for p in (new, old))
        scale = float(np.iinfo(a.dtype).max)
        delta = deltaE_ciede2000(rgb2lab(a / scale), rgb2lab(b / scale))
        means.append(float(delta.mean()))
        worst = max(worst, float(delta.max()))
        sizes[0] += new.stat().st_size
        sizes[1] += old.stat().st_size
    return (f"CIEDE2000 against the baseline's outputs: mean {statistics.mean(means):.4f} (worst file "
            f"{max(means):.4f}), largest pixel {worst:.3f}; output size {sizes[0] / 2**20:.1f} MiB, baseline's "
            f"{sizes[1] / 2**20:.1f} MiB")


def stage_seconds(report: Path) -> str:
    files = [r for r in json.loads(report.read_text())["files"] if r["status"] == "ok"]
    stages = files[0]["seconds"].keys() if files else []
    return ", ".join(f"{k} {statistics.mean(r['seconds'][k] for r in files):.3f}" for k in stages)


def bench_8bit(work: Path, args) -> None:
    width, height = args.size
    scans = work / "scans"
    make_jpegs(scans, args.files, width, height)
    print(f"8-bit: {args.files} grey {width}x{height} JPEGs (quality 92), {os.cpu_count()} cores")
    ratios, pool_ratios, cpu_ratios, fork_ratios = [], [], [], []
    for round_ in range(args.rounds):
        forked, _, _, _ = run_command([sys.executable, __file__, "--floor-jpeg", str(scans), str(work / f"fork{round_}"),
                                       "--floor-start", "fork"])
        floor_out = work / f"floor{round_}"
        floor, _, _, floor_cpu = run_command([sys.executable, __file__, "--floor-jpeg", str(scans),
                                              str(floor_out)])
        pool = float((floor_out / "pool-seconds").read_text())
        out = work / f"ours{round_}"
        ours, largest, _, ours_cpu = run_command(colorize_command(scans, out, args.model, args.provider))
        ratios.append(floor / ours)
        fork_ratios.append(forked / ours)
        pool_ratios.append(pool / ours)
        cpu_ratios.append(floor_cpu / ours_cpu)
        print(f"  round {round_ + 1}: floor (cv2 decode+encode, {os.cpu_count()} processes) {floor:6.2f} s as a command "
              f"({pool:.2f} s of it the pool's; CPU {floor_cpu:.2f} s), colorize {ours:6.2f} s (CPU {ours_cpu:.2f} s): "
              f"ratio {floor / ours:.2f} ({pool / ours:.2f} against the pool alone, {floor_cpu / ours_cpu:.2f} in CPU "
              f"time); largest process {largest / 2**20:.0f} MiB; the floor with a forked pool {forked:.2f} s, "
              f"ratio {forked / ours:.2f}")
        print(f"    colorize per file, mean s: {stage_seconds(out / 'colorcli-report.json')}")
        if args.baseline:
            before = work / f"baseline{round_}"
            seconds, _, _, cpu = run_command(colorize_command(scans, before, args.model, args.provider),
                                             source_env(args.baseline))
            print(f"    baseline colorize {seconds:6.2f} s (CPU {cpu:.2f} s), ratio {floor / seconds:.2f} "
                  f"({pool / seconds:.2f}, CPU {floor_cpu / cpu:.2f})")
    if args.baseline:
        print(f"  {compare_outputs(work / 'ours0', work / 'baseline0', 2)}")
    print(f"8-bit colorize / cv2 floor, both whole commands: {' '.join(f'{r:.2f}' for r in ratios)}  "
          f"median {statistics.median(ratios):.2f}  (target >= 0.45, goal 0.6); against the floor's pool alone "
          f"(no interpreter start or imports): median {statistics.median(pool_ratios):.2f}; in CPU time: median "
          f"{statistics.median(cpu_ratios):.2f}; against the floor with a forked pool (Python's default on Linux "
          f"to 3.13: no interpreter start per process): median {statistics.median(fork_ratios):.2f}")


def bench_16bit(work: Path, args) -> None:
    width, height = args.tiff_size
    folder = work / "masters"
    make_tiff16(folder / "master.tif", width, height)
    raw = width * height * 3 * 2
    print(f"16-bit: one grey {width}x{height} ({width * height / 1e6:.0f} MP) deflate TIFF; "
          f"raw 16-bit RGB output {raw / 2**20:.0f} MiB")
    cores = os.cpu_count()
    for round_ in range(args.tiff_rounds):
        floor, floor_rss, _, _ = run_command([sys.executable, "-c", _FLOOR16, str(folder / "master.tif"),
                                              str(work / f"floor{round_}.tif"), "0"])
        out = work / f"masters-out{round_}"
        ours, ours_rss, summed, _ = run_command(colorize_command(folder, out, args.model, args.provider))
        threaded, _, _, _ = run_command([sys.executable, "-c", _FLOOR16, str(folder / "master.tif"),
                                      str(work / f"floor{round_}.tif"), str(cores)])
        print(f"  round {round_ + 1}: floor (tifffile read + write RGB, its default threads) {floor:6.2f} s, "
              f"peak RSS {floor_rss / 2**20:.0f} MiB; colorize {ours:6.2f} s, peak RSS of the largest process "
              f"{ours_rss / 2**20:.0f} MiB (tree {summed / 2**20:.0f} MiB); "
              f"floor with {cores} threads {threaded:6.2f} s")
        print(f"    colorize stages, s: {stage_seconds(out / 'colorcli-report.json')}")
        if args.baseline:
            before = work / f"baseline{round_}"
            seconds, before_rss, _, _ = run_command(colorize_command(folder, before, args.model, args.provider),
                                                    source_env(args.baseline))
            print(f"    baseline colorize {seconds:6.2f} s, ratio {floor / seconds:.2f}, peak RSS of the largest "
                  f"process {before_rss / 2**20:.0f} MiB ({before_rss / raw:.2f} x raw)")
            print(f"    {compare_outputs(out, before, 4)}")
        print(f"16-bit colorize / tifffile floor: {floor / ours:.2f}  (target >= 0.6); against the floor with "
              f"{cores} threads: {threaded / ours:.2f}; largest process's peak RSS / raw output: "
              f"{ours_rss / raw:.2f}  (target <= 2); the floor's: {floor_rss / raw:.2f}")


def bench_memory(work: Path, args) -> None:
    folder = work / "many"
    make_jpegs(folder, 1000, 640, 480, seed=1)
    (work / "hundred").mkdir()
    for path in sorted(folder.iterdir())[:100]:
        os.link(path, work / "hundred" / path.name)
    _, _, peak100, _ = run_command(colorize_command(work / "hundred", work / "out100", args.model, args.provider))
    _, _, peak1000, _ = run_command(colorize_command(folder, work / "out1000", args.model, args.provider))
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
    parser.add_argument("--rounds", type=int, default=3, help="alternating floor / colorize rounds, 8-bit")
    parser.add_argument("--tiff-rounds", type=int, default=1)
    parser.add_argument("--baseline", type=Path, default=None,
                        help="source tree of another colorcli (git archive 8aaa184 | tar -x -C DIR): also run, "
                             "its outputs compared with these")
    parser.add_argument("--skip-8bit", action="store_true")
    parser.add_argument("--skip-16bit", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--floor-jpeg", nargs=2, type=Path, metavar=("SCANS", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--floor-start", default="spawn", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_jpeg:
        floor_jpeg(*args.floor_jpeg, args.floor_start)
        return

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
