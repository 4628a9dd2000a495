"""What colorize takes for grey in ../shared/data, folder by folder, and what the decision costs per scan.

Prints, for the archive prints (which should all be taken for grey) and each folder of colour photos
(which should mostly not), how many files colorize takes for grey (colorcli.look.tone.classify of the scan, or
of the print on it where colorcli.look.mount_find finds one, as `colorize --mount auto` decides), how many had a
mount found, the reasons it gives, and its time on a 12 MP scan (measured in this run, against the time to
read that scan back as a PNG).

    python benchmarks/grey_decision.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import collections
import re
import tempfile
import time
from pathlib import Path

import cv2

from colorcli.look import mount_find
from colorcli.look import mount_colorize
from colorcli.look import tone
from colorcli.io.images import read_image

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
IMAGES = {".jpg", ".jpeg", ".png"}


def folder_of(path: Path, root: Path) -> str:
    parts = path.relative_to(root).parts
    return "/".join(parts[:3] if parts[0] == "photos" else parts[:-1])


def check_of(decision: tone.ToneDecision) -> str:
    """Which check decided: the kind, or for colour the evidence named after the hue clusters."""
    if decision.kind != "colour":
        return decision.kind
    evidence = decision.reason.partition(", ")[2] or "several hue clusters no print tone has"
    return "colour: " + re.sub(r"\d+", "#", evidence)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    root = parser.parse_args().data
    totals, grey, kinds, mounts = (collections.Counter() for _ in range(4))
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGES and "cifar" not in p.parts[-2]):
        folder = folder_of(path, root)
        pixels = read_image(path).pixels
        found = mount_find.find(pixels)
        decision = mount_colorize.decide(pixels, found).tone
        totals[folder] += 1
        grey[folder] += decision.grey
        mounts[folder] += bool(found.prints)
        kinds[(folder.split("/")[0], check_of(decision))] += 1
    for folder in sorted(totals):
        print(f"{folder:28s} {totals[folder]:5d} files  taken for grey {grey[folder]:4d} "
              f"({grey[folder] / totals[folder]:.1%})  print found on a mount {mounts[folder]:3d}")
    for (group, reason), count in sorted(kinds.items()):
        print(f"  {group:8s} {reason:60s} {count:5d}")
    scan = cv2.resize(read_image(next(root.glob("archive/toned/*.jpg"))).pixels, (4000, 3000))
    with tempfile.TemporaryDirectory() as folder:
        png = Path(folder) / "scan.png"
        cv2.imwrite(str(png), scan)
        start = time.perf_counter()
        read_image(png)
        read_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(5):
        tone.classify(scan)
    decide_seconds = (time.perf_counter() - start) / 5
    start = time.perf_counter()
    for _ in range(5):
        mount_find.find(scan)
    mount_seconds = (time.perf_counter() - start) / 5
    print(f"12 MP scan: decision {decide_seconds * 1000:.0f} ms, mount search {mount_seconds * 1000:.0f} ms, "
          f"reading it as PNG {read_seconds * 1000:.0f} ms (ratios {decide_seconds / read_seconds:.2f}, "
          f"{mount_seconds / read_seconds:.2f})")


if __name__ == "__main__":
    main()
