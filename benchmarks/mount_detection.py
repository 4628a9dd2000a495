"""Mount detection: what it costs on 12 MP scans, how often it finds the print on synthetic cabinet cards,
and what the seam between the colorized print and the card looks like.

Prints, measured in this run:
- the real prints on their cards (archive/mounted/): found or not, the box, how sure; and which other archive
  prints get a box;
- with --photos: of colour photos from those folders, how many get a print box;
- the time of mount_find.find on a 12 MP cabinet card and a 12 MP plain photo (photos enlarged), beside the grey
  decision it joins (tone.classify of the scan) and reading the scan back as a PNG;
- on cabinet cards made from ImageNet photos (every card colour, ink, tone, rounded corners, bevels, off
  centre, turned up to 2 degrees): the share found, their mean IoU with the true print, and how many card
  pixels any found print would touch (must be 0);
- colorized with the embedded model: card pixels changed (must be 0, lossless), the colour distance
  (Lab) of the output from the scan in rings 1..8 px outside the true edge (the halo: must be 0), and the
  output's chroma at each depth inside the print against the print's interior (the seam's ramp); and with
  --mount off, how far the card moves from the scan.

    python benchmarks/mount_detection.py [--data ../shared/data] [--cards 60] [--photos DIR ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import mounts  # noqa: E402  (tests/mounts.py: the synthetic cards)

from colorcli.look import lab
from colorcli.look import mount_find
from colorcli.look import mount_colorize
from colorcli.look import tone  # noqa: E402
from colorcli.io.images import read_image  # noqa: E402
from colorcli.models.runtime import Colorizer  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def timed(function, *args, rounds: int = 5) -> float:
    function(*args)
    start = time.perf_counter()
    for _ in range(rounds):
        function(*args)
    return (time.perf_counter() - start) / rounds


def layouts(count: int, seed: int = 28):
    rng = np.random.default_rng(seed)
    for i in range(count):
        yield dict(card=list(mounts.CARDS)[i % 4], ink=["gold", "red", None][i % 3],
                   tone=["sepia", "grey", "selenium"][i % 3], rounded=i % 2 == 0, bevel=i % 3 == 1,
                   offset=(rng.uniform(-0.03, 0.03), rng.uniform(-0.02, 0.02)),
                   angle=float(rng.uniform(-2, 2)) if i % 2 else 0.0, width=int(rng.choice([360, 480, 600])), seed=i)


def cost(root: Path) -> None:
    photo = read_image(root / "photos" / "val" / "bsds500" / "101085.jpg").pixels
    card = cv2.resize(mounts.cabinet_card(photo, card="maroon", ink="gold", angle=1.0, width=600).scan,
                      (2800, 4340), interpolation=cv2.INTER_CUBIC)
    plain = cv2.resize(photo, (4240, 2830), interpolation=cv2.INTER_CUBIC)
    for name, scan in (("cabinet card", card), ("plain photo", plain)):
        with tempfile.TemporaryDirectory() as folder:
            png = Path(folder) / "scan.png"
            cv2.imwrite(str(png), scan)
            read_seconds = timed(read_image, png, rounds=2)
        find_seconds = timed(mount_find.find, scan)
        classify_seconds = timed(tone.classify, scan)
        found = mount_find.find(scan)
        decide_seconds = timed(mount_colorize.decide, scan, found)
        print(f"12 MP {name} ({scan.shape[1]}x{scan.shape[0]}): mount_find.find {find_seconds * 1000:.0f} ms, grey "
              f"decision of the scan {classify_seconds * 1000:.0f} ms (of its print {decide_seconds * 1000:.0f} "
              f"ms), reading it as PNG {read_seconds * 1000:.0f} ms; find / decision "
              f"{find_seconds / classify_seconds:.2f}, find / read {find_seconds / read_seconds:.2f} "
              f"[{found.reason}]")


def accuracy(root: Path, count: int) -> list[tuple[mounts.Mounted, mount_find.Mount]]:
    files = sorted((root / "photos" / "train" / "imagenet").glob("*.jpg"))[3::11][:count]
    results, by_card, outward, kept = [], {}, [], []
    for path, layout in zip(files, layouts(len(files))):
        card = mounts.cabinet_card(read_image(path).pixels, **layout)
        found = mount_find.find(card.scan)
        stats = by_card.setdefault(layout["card"], [0, 0, [], 0])
        stats[0] += 1
        if found.prints:
            p = found.prints[0]
            height, width = card.scan.shape[:2]
            depth = p.depth(0, height, 0, width)
            truth = card.coverage[0] >= 0.5
            stats[1] += 1
            stats[2].append(((depth > 0) & truth).sum() / ((depth > 0) | truth).sum())
            weight = mount_colorize.weight(p, 0, height, 0, width)
            stats[3] += int(((weight > 0) & card.card).sum())
            beyond = cv2.distanceTransform(card.card.astype(np.uint8), cv2.DIST_L2, 5)[(depth > 0) & card.card]
            outward.append(float(beyond.max()) if beyond.size else 0.0)
            whole = card.coverage[0] == 1
            kept.append(float((whole & (weight == 0)).sum() / whole.sum()))
            results.append((card, found))
    total = sum(s[0] for s in by_card.values())
    hits = sum(s[1] for s in by_card.values())
    print(f"{total} cabinet cards from ImageNet photos: print found on {hits} ({hits / total:.0%})")
    for name, (n, found_n, ious, touched) in by_card.items():
        print(f"  {name:7s} {found_n:3d} of {n:3d} found, mean IoU {np.mean(ious) if ious else 0:.4f} "
              f"(least {min(ious) if ious else 0:.4f}), card pixels a found print would touch: {touched}")
    print(f"  a found edge lies at most {max(outward):.2f} px outside the print's true edge (pixel centres; "
          f"{mount_colorize._KEEP} px inside it are kept as scanned); of the print, {np.mean(kept):.2%} on average "
          f"is left as scanned (its rim, and what a found edge cut off; {max(kept):.2%} at most)")
    return results


def seam(results: list[tuple[mounts.Mounted, mount_find.Mount]], count: int) -> None:
    if not results[:count]:
        return
    colorizer = Colorizer.load(None, provider="cpu")
    changed, rings, depths, alone, spill, n = 0, np.zeros(8), np.zeros(12), np.zeros(12), [], 0
    depth_steps = [1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 30]
    for card, found in results[:count]:
        scan = card.scan
        pieces = mount_colorize.split_for_model(scan, found.prints, colorizer.size)
        ab = [colorizer.predict_ab(piece.small[None])[0] for piece in pieces]
        out = mount_colorize.merged_rows(scan, pieces, ab)(0, scan.shape[0])
        changed += int((out != scan).any(axis=2)[card.card].sum())
        x, y, w, h = pieces[0].box  # the print colorized alone, laid over the card without a seam
        plain = scan.copy()
        plain[y:y + h, x:x + w] = lab.merged_rows_from_model(pieces[0].pixels, ab[0])(0, h)
        small = lab.split_for_model(scan, colorizer.size)[1]  # the whole scan colorized (--mount off)
        whole = lab.merged_rows_from_model(scan, colorizer.predict_ab(small[None])[0])(0, scan.shape[0])
        lab_out, lab_scan, lab_whole = (lab.rgb_to_lab(x) for x in (out, scan, whole))
        distance = np.linalg.norm(lab_out - lab_scan, axis=2)
        spill.append(float(np.linalg.norm(lab_whole - lab_scan, axis=2)[card.card].mean()))
        # distance to the true print edge, from its coverage: outside (card) and inside
        outside = cv2.distanceTransform((card.coverage[0] == 0).astype(np.uint8), cv2.DIST_L2, 3)
        inside = cv2.distanceTransform((card.coverage[0] > 0).astype(np.uint8), cv2.DIST_L2, 3)
        for k in range(8):
            ring = (card.coverage[0] == 0) & (outside > k) & (outside <= k + 1)
            rings[k] = max(rings[k], distance[ring].max())
        chroma = np.hypot(lab_out[..., 1], lab_out[..., 2])
        lab_plain = lab.rgb_to_lab(plain)
        chroma_plain = np.hypot(lab_plain[..., 1], lab_plain[..., 2])
        interior = chroma[inside > 40].mean()
        for i, d in enumerate(depth_steps):
            band = (inside > d - 1) & (inside <= d)
            depths[i] += chroma[band].mean() / interior
            alone[i] += chroma_plain[band].mean() / interior
        n += 1
    print(f"colorized with the embedded model ({colorizer.info.path.name}), {n} cards, lossless: card pixels "
          f"changed {changed}")
    print("  halo, largest colour distance (Lab) from the scan in the rings 1..8 px outside the print: "
          + " ".join(f"{v:.1f}" for v in rings))
    print("  seam, the output's chroma at depth d px inside the print's true edge / the print's interior "
          "(mean of the cards): " + " ".join(f"{d}:{v / n:.2f}" for d, v in zip(depth_steps, depths)))
    print("  the same of the print colorized alone, without the seam's kept rim and blend:           "
          + " ".join(f"{d}:{v / n:.2f}" for d, v in zip(depth_steps, alone)))
    print(f"  with --mount off the card moves from the scan by {np.mean(spill):.1f} (Lab distance, mean over "
          f"card pixels; the model's colour spilled onto the card)")


def real_cards(root: Path) -> None:
    """The real mounts of the shared archive (archive/mounted/), and how many of the other archive prints
    get a print box (each named: a scanned border of their own, or a wrong crop to look at)."""
    real = sorted((root / "archive" / "mounted").glob("*.jpg"))
    for path in real:
        scan = read_image(path).pixels
        found = mount_find.find(scan)
        box = found.prints[0].bounds(scan.shape) if len(found.prints) == 1 else None
        share = box[2] * box[3] / (scan.shape[0] * scan.shape[1]) if box else 0.0
        print(f"real card {path.name}: {'found' if box else 'not found'} {box or ''} "
              f"({share:.0%} of the scan, confidence {found.confidence}); {found.reason}")
    others = [p for p in sorted((root / "archive").rglob("*")) if p.suffix.lower() in (".jpg", ".png")
              and p.parent.name != "mounted"]
    boxed = [p.name for p in others if mount_find.find(read_image(p).pixels).prints]
    print(f"other archive prints with a print box: {len(boxed)} of {len(others)} ({', '.join(boxed)})")


def colour_photos(folders: list[Path], per_folder: int) -> None:
    """Colour photographs that get a print box from the search alone, and from colorize (which drops the
    box of a picture it skips as colour)."""
    rng = np.random.default_rng(0)
    files = []
    for folder in folders:
        found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        files += [found[i] for i in sorted(rng.choice(len(found), min(per_folder, len(found)), replace=False))]
    searched = kept = 0
    for path in files:
        scan = read_image(path).pixels
        found = mount_find.find(scan)
        if found.prints:
            searched += 1
            kept += mount_colorize.decide(scan, found).tone.grey
    print(f"colour photos ({len(files)}, up to {per_folder} from each of {len(folders)} folders): a print box from "
          f"the search {searched}, in colorize's report {kept} (the others are skipped as colour, box dropped)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--cards", type=int, default=60)
    parser.add_argument("--colorized", type=int, default=12)
    parser.add_argument("--photos", type=Path, nargs="*", default=[], metavar="DIR",
                        help="folders of colour photos to count print boxes on (e.g. the extra collections)")
    parser.add_argument("--per-folder", type=int, default=60)
    args = parser.parse_args()
    real_cards(args.data)
    if args.photos:
        colour_photos(args.photos, args.per_folder)
    cost(args.data)
    results = accuracy(args.data, args.cards)
    seam(results, args.colorized)


if __name__ == "__main__":
    main()
