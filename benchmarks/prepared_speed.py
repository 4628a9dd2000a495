"""What decoding photos once saves a training run: load rates, in images per second, measured in one run.

    python benchmarks/prepared_speed.py [FOLDER ...] [--size 128] [--limit 3000]

For the photos of FOLDER (default: ../shared/data/photos/train), at the load size of --size:
  decode    the loader without a prepared copy: every photo decoded and resized into memory, at every start
  prepare   the first run with a prepared copy: the same decoding, written to disk once
  reuse     every later run: the copy mapped back and each image's pixels read once
The files are read once before timing (the disk's speed is not what is measured), and the rates are
printed with their ratio to `decode`, measured in the same run, so a busy machine affects them alike.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

from colorcli.training import data, prepared

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos" / "train"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", type=Path, nargs="*", default=[DEFAULT])
    parser.add_argument("--size", type=int, default=128, help="training size (photos load at 1.12 x it)")
    parser.add_argument("--limit", type=int, default=3000, help="photos timed, taken evenly from the folders")
    parser.add_argument("--workers", type=int, default=2, help="decoding threads, as colorcli train --workers")
    args = parser.parse_args()
    files = sorted(p for folder in args.folders for p in data.list_images(folder))
    files = files[:: max(1, len(files) // args.limit)][: args.limit]
    short = data.load_size_for(args.size)
    decode = partial(data.decode_photo, short=short, max_aspect=data.MAX_ASPECT)
    for path in files:  # into the OS cache first, so that the disk does not favour whichever runs second
        path.read_bytes()

    start = time.perf_counter()
    images, _ = data._decode_all(files, decode, args.workers)
    rates = {"decode": len(files) / (time.perf_counter() - start)}
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        prepared.load_or_prepare(files, decode, f"{short}px", Path(cache), args.workers)
        rates["prepare"] = len(files) / (time.perf_counter() - start)
        start = time.perf_counter()
        again, record = prepared.load_or_prepare(files, decode, f"{short}px", Path(cache), args.workers)
        checksum = sum(int(np.asarray(image).sum(dtype=np.int64)) for image in again)  # touch every pixel
        rates["reuse"] = len(files) / (time.perf_counter() - start)
    assert record["reused"] and checksum == sum(int(image.sum(dtype=np.int64)) for image in images)
    print(f"{len(files)} photos from {', '.join(str(f) for f in args.folders)}, loaded at {short} px "
          f"({len(images)} used), {args.workers} decoding threads")
    for name, rate in rates.items():
        print(f"  {name:8s} {rate:10.1f} images/s   {rate / rates['decode']:8.2f} x decode")


if __name__ == "__main__":
    main()
