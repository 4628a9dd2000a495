"""Where a colorize worker's time goes on a 12 MP grey JPEG, stage by stage, against the floor's own two.

Each stage of one file's work is timed on its own, in one process with one thread (a worker's share of
the cores), on the same scans as benchmarks/colorize_throughput.py makes:

    decode         read_image: the file read, hashed and decoded
    grey decision  mount_colorize.decide (tone.classify of the scan, or of each print)
    mount search   mount_find.find
    model input    split_for_model: full-resolution L and the model's small input
    model          the ONNX model on that input (in colorize the parent runs it, for every worker)
    Lab merge      the chroma upsampled and merged with L, to the rows the encoder takes
    encode         the JPEG encoded in memory, with the metadata colorize writes
    fsync          the encoded file written beside its final name, flushed to disk and renamed
    floor decode   cv2.imread (the floor's decode) and floor encode: cv2.imencode at quality 95

With --baseline DIR (a source tree of an earlier release, for example `git archive COMMIT`), the same
stages of that code are timed in the same run, the two alternating round by round in separate
processes, so that both see the same machine load.

    python benchmarks/colorize_stages.py [--files 6] [--rounds 3] [--size 4000x3000] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from colorize_throughput import REPO, make_jpegs, source_env

STAGES = ("decode", "grey decision", "mount search", "model input", "model", "Lab merge", "encode", "fsync",
          "floor decode", "floor encode")

_ROUND = r"""
import io, json, os, sys, time
from pathlib import Path
import cv2
cv2.setNumThreads(1)
from colorcli.batch import pipeline
from colorcli.io import images, xmp
from colorcli.io.atomic import atomic_write
from colorcli.io.formats import FORMAT_OF_EXTENSION
from colorcli.look import mount_colorize, mount_find
from colorcli.models.runtime import Colorizer

colorizer = Colorizer.load(None, threads=1)
provenance = pipeline._provenance(colorizer)
out = Path(sys.argv[2])
times = {}

def timed(stage, work):
    start = time.perf_counter()
    result = work()
    times.setdefault(stage, []).append(time.perf_counter() - start)
    return result

for src in sorted(Path(sys.argv[1]).glob("*.jpg")):
    image = timed("decode", lambda: images.read_image(src))
    found = timed("mount search", lambda: mount_find.find(image.pixels))
    decision = timed("grey decision", lambda: mount_colorize.decide(image.pixels, found))
    pieces = timed("model input", lambda: mount_colorize.split_for_model(
        image.pixels, decision.prints, colorizer.size, image.orientation))
    ab = timed("model", lambda: [colorizer.predict_ab(piece.small[None])[0] for piece in pieces])
    height = image.pixels.shape[0]
    rows = mount_colorize.merged_rows(image.pixels, pieces, ab, image.orientation, 4)
    rgbx = timed("Lab merge", lambda: rows(0, height))
    image.xmp, _ = xmp.for_output(image.xmp, "JPEG", provenance, src.name, image.sha256)
    encoded = io.BytesIO()
    timed("encode", lambda: images.encode_to(encoded, rgbx, image, "JPEG"))

    def write():
        with atomic_write(out / src.name) as handle:
            handle.write(encoded.getbuffer())
    timed("fsync", write)
    grey = timed("floor decode", lambda: cv2.imread(str(src), cv2.IMREAD_GRAYSCALE))
    timed("floor encode", lambda: cv2.imencode(".jpg", cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR),
                                               [cv2.IMWRITE_JPEG_QUALITY, 95]))
print(json.dumps(times))
"""


def one_round(source: Path, scans: Path, out: Path) -> dict[str, list[float]]:
    out.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-c", _ROUND, str(scans), str(out)], env=source_env(source),
                          cwd=tempfile.gettempdir(), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{source}: the stage round failed: {done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", default="4000x3000")
    parser.add_argument("--baseline", type=Path, help="an earlier source tree, timed in the same rounds")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    trees = {"this code": REPO} | ({f"baseline ({args.baseline})": args.baseline} if args.baseline else {})
    with tempfile.TemporaryDirectory() as temp:
        scans = Path(temp) / "scans"
        make_jpegs(scans, args.files, width, height)
        times: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
        for r in range(args.rounds):
            for i, (name, source) in enumerate(trees.items()):
                for stage, values in one_round(source, scans, Path(temp) / f"out-{r}-{i}").items():
                    times[name].setdefault(stage, []).extend(values[1:] if r == 0 else values)  # first: warm-up
    print(f"colorize, stage by stage: {args.files} grey {width}x{height} JPEGs, {args.rounds} rounds, one thread, "
          f"{os.cpu_count()} cores; median ms per file")
    print(f"  {'stage':14s} " + "  ".join(f"{name:>22s}" for name in trees))
    for stage in STAGES:
        cells = [f"{1000 * statistics.median(times[name][stage]):22.1f}" if stage in times[name] else f"{'-':>22s}"
                 for name in trees]
        print(f"  {stage:14s} " + "  ".join(cells))
    for name in trees:
        ours = sum(statistics.median(times[name][s]) for s in STAGES[:8])
        floor = sum(statistics.median(times[name][s]) for s in STAGES[8:])
        print(f"  {name}: colorize's stages {1000 * ours:.0f} ms a file, the floor's {1000 * floor:.0f} ms "
              f"(ratio {floor / ours:.2f})")


if __name__ == "__main__":
    main()
