"""Scoring colorizations against colour originals (`colorcli eval`).

Two modes. Prediction mode scores each file under PRED against the reference under REF with the same
relative path (extension aside). Benchmark mode makes the grayscale input from each reference (L of
Lab kept, a = b = 0), colorizes it with a model through the same Colorizer code as `colorize`, and
scores the result. Either way the grayscale input itself is scored too (the gray baseline), so every
figure has its context.

Work runs in spawned worker processes, a chunk of pairs at a time; same-size images are scored as one
batch (metrics.score_batch). A file that cannot be scored becomes a failed record with its reason.
"""

from __future__ import annotations

import csv
import math
import multiprocessing as mp
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from colorcli.scoring import metrics
from colorcli.errors import ColorcliError, ImageError, UsageError

SHEET_ROWS = 4  # best and worst images each on the contact sheet
SHEET_CELL = 128  # pixels per image on the contact sheet
_GAP = 4  # pixels between contact sheet cells
_CHUNK_MAX = 256  # pairs per worker task
_BATCH_PIXELS = 1 << 20  # a worker scores what it has read once it holds this many reference pixels
DECIMALS = 4


@dataclass(frozen=True)
class Pair:
    name: str  # relative path without extension, with forward slashes
    ref: Path
    pred: Path | None = None  # None in benchmark mode


@dataclass(frozen=True)
class ModelSpec:
    """What a worker needs to load the same model the parent loaded (sessions cannot be pickled)."""

    path: str
    provider: str
    size: int
    threads: int | None = None
    strength: float = 1.0


@dataclass
class Matching:
    pairs: list[Pair]
    references_without_prediction: list[str]
    predictions_without_reference: list[str]
    ambiguous: list[str]  # names that two files in one folder share (a.png and a.jpg)


# ---------------------------------------------------------------- finding the images


def index_images(root: Path, option: str) -> tuple[dict[str, Path], list[str]]:
    """Images under `root` by relative path without extension, and the names two files share."""
    from colorcli.io.walk import walk_images

    if not root.is_dir():
        raise UsageError(f"{option} {root}: not a folder" if root.exists() else f"{option} {root}: no such folder")
    found: dict[str, Path] = {}
    clashes: dict[str, list[Path]] = {}
    for path in walk_images(root):
        name = path.relative_to(root).with_suffix("").as_posix()
        if name in found:
            clashes.setdefault(name, [found[name]]).append(path)
        else:
            found[name] = path
    ambiguous = [f"{option} {name}: " + ", ".join(p.name for p in paths) for name, paths in clashes.items()]
    for name in clashes:
        del found[name]
    if not found and not clashes:
        raise UsageError(f"{option} {root}: no images found (looked for {_extensions()})")
    return found, ambiguous


def _extensions() -> str:
    from colorcli.io.formats import INPUT_EXTENSIONS

    return " ".join(sorted(INPUT_EXTENSIONS))


def match(ref_dir: Path, pred_dir: Path) -> Matching:
    """Pair predictions with references by relative path without extension."""
    refs, ambiguous_refs = index_images(ref_dir, "--ref")
    preds, ambiguous_preds = index_images(pred_dir, "--pred")
    pairs = [Pair(name, refs[name], preds[name]) for name in sorted(refs.keys() & preds.keys())]
    if not pairs:
        raise UsageError(f"no file under --pred {pred_dir} has a reference under --ref {ref_dir} "
                         "(files are matched by relative path without extension)")
    return Matching(
        pairs=pairs,
        references_without_prediction=sorted(refs.keys() - preds.keys()),
        predictions_without_reference=sorted(preds.keys() - refs.keys()),
        ambiguous=ambiguous_refs + ambiguous_preds,
    )


def benchmark_pairs(ref_dir: Path) -> Matching:
    refs, ambiguous = index_images(ref_dir, "--ref")
    return Matching([Pair(name, refs[name]) for name in sorted(refs)], [], [], ambiguous)


# ---------------------------------------------------------------- scoring (runs in workers)

_colorizer = None  # the worker's own Colorizer in benchmark mode


def _init_worker(spec: ModelSpec | None, colorizer=None) -> None:
    global _colorizer
    if colorizer is not None:
        _colorizer = colorizer
    elif spec is not None:
        from colorcli.models.runtime import Colorizer

        _colorizer = Colorizer.load(spec.path, provider=spec.provider, size=spec.size, threads=spec.threads,
                                    strength=spec.strength)


def _size(array: np.ndarray) -> str:
    return f"{array.shape[1]}x{array.shape[0]}"


def load_triplet(pair: Pair, colorizer=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gray baseline, prediction, reference) of a pair as 8-bit RGB; raises ColorcliError."""
    from colorcli.io.images import read_image, to_rgb8

    image = read_image(pair.ref)
    ref = to_rgb8(image.pixels)
    gray = metrics.gray_baseline(ref)
    if pair.pred is None:
        pred = colorizer.colorize(gray, orientation=image.orientation)
    else:
        pred = to_rgb8(read_image(pair.pred).pixels)
        if pred.shape != ref.shape:
            raise ImageError(f"size differs: prediction {_size(pred)}, reference {_size(ref)}")
    return gray, pred, ref


def _record(pair: Pair, status: str, reason: str | None = None, **extra) -> dict:
    return {"name": pair.name, "reference": str(pair.ref),
            "prediction": None if pair.pred is None else str(pair.pred),
            "status": status, "reason": reason, **extra}


def _rounded(values: dict[str, np.ndarray], i: int) -> dict[str, float]:
    return {key: round(float(values[key][i]), DECIMALS) for key in metrics.KEYS}


def score_pairs(pairs: list[Pair]) -> list[dict]:
    """Records of a chunk of pairs, in order. Same-size images are scored as one batch, a few
    megapixels at a time, so a chunk of large scans is never held in memory all at once."""
    records: list[dict | None] = [None] * len(pairs)
    pending: dict[tuple, list[tuple]] = {}  # shape -> [(index, gray, prediction, reference)]
    held = 0
    for i, pair in enumerate(pairs):
        try:
            gray, pred, ref = load_triplet(pair, _colorizer)
        except ColorcliError as error:
            records[i] = _record(pair, "failed", _without_path(str(error), pair))
            continue
        except Exception as error:  # noqa: BLE001 - one bad file must not stop the run
            records[i] = _record(pair, "failed", f"{type(error).__name__}: {error}")
            continue
        pending.setdefault(ref.shape, []).append((i, gray, pred, ref))
        held += ref.shape[0] * ref.shape[1]
        if held >= _BATCH_PIXELS:
            _score_groups(pairs, pending, records)
            pending, held = {}, 0
    _score_groups(pairs, pending, records)
    return records


def _score_groups(pairs: list[Pair], groups: dict[tuple, list[tuple]], records: list) -> None:
    for shape, members in groups.items():
        index = [m[0] for m in members]
        grays, preds, refs = (np.stack([m[k] for m in members]) for k in (1, 2, 3))
        try:
            scored, baseline = metrics.score_batch(preds, refs), metrics.score_batch(grays, refs)
        except ColorcliError as error:
            for i in index:
                records[i] = _record(pairs[i], "failed", str(error))
            continue
        for row, i in enumerate(index):
            records[i] = _record(pairs[i], "ok", width=shape[1], height=shape[0],
                                 metrics=_rounded(scored, row), baseline=_rounded(baseline, row))


def _without_path(message: str, pair: Pair) -> str:
    """ImageErrors start with the path; records name their files already."""
    for path in (pair.ref, pair.pred):
        if path is not None and message.startswith(f"{path}: "):
            return f"{'reference' if path == pair.ref else 'prediction'}: {message[len(str(path)) + 2:]}"
    return message


def run(pairs: list[Pair], workers: int, spec: ModelSpec | None = None, colorizer=None,
        on_progress: Callable[[int], None] = lambda done: None) -> list[dict]:
    """Score every pair with `workers` spawned processes; records in input order.

    One worker, or no more pairs than one chunk, runs in this process (spawning costs more than that).

    In benchmark mode `spec` tells each worker which model to load; `colorizer` is the parent's own,
    used when scoring runs in this process.
    """
    if workers <= 1 or len(pairs) <= _CHUNK_MAX:
        _init_worker(spec, colorizer)
        records = []
        for start in range(0, len(pairs), _CHUNK_MAX):
            records += score_pairs(pairs[start : start + _CHUNK_MAX])
            on_progress(len(records))
        return records
    size = max(1, min(_CHUNK_MAX, math.ceil(len(pairs) / (workers * 4))))
    chunks = [pairs[i : i + size] for i in range(0, len(pairs), size)]
    results: list[list[dict] | None] = [None] * len(chunks)
    done = 0
    context = mp.get_context("spawn")  # never fork a process that may hold an ONNX Runtime session
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(spec,)) as pool:
        futures = {pool.submit(score_pairs, chunk): k for k, chunk in enumerate(chunks)}
        try:
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    k = futures[future]
                    results[k] = _chunk_result(future, chunks[k])
                    done += len(chunks[k])
                    on_progress(done)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return [record for chunk in results for record in chunk]


def _chunk_result(future, chunk: list[Pair]) -> list[dict]:
    try:
        return future.result()
    except Exception as error:  # noqa: BLE001 - a crashed worker fails its files, not the run
        reason = f"worker failed ({type(error).__name__}: {error})".strip()
        return [_record(pair, "failed", reason) for pair in chunk]


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


# ---------------------------------------------------------------- summaries and outputs


def summaries(records: list[dict]) -> tuple[dict, dict]:
    """(model or prediction summary, gray baseline summary) over the scored records."""
    ok = [r for r in records if r["status"] == "ok"]
    return (_rounded_summary(metrics.summarize([r["metrics"] for r in ok])),
            _rounded_summary(metrics.summarize([r["baseline"] for r in ok])))


def _rounded_summary(summary: dict) -> dict:
    return {key: value if key == "n" else {k: round(v, DECIMALS) for k, v in value.items()}
            for key, value in summary.items()}


CSV_FIELDS = (["name", "status", "reason", "width", "height"] + list(metrics.KEYS)
              + [f"baseline_{key}" for key in metrics.KEYS] + ["reference", "prediction"])


def write_csv(path: Path, records: list[dict]) -> None:
    from colorcli.io.atomic import atomic_write

    with atomic_write(path, "w") as handle:
        writer = csv.DictWriter(handle, CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        for record in records:
            row = {key: record.get(key) for key in ("name", "status", "reason", "width", "height",
                                                    "reference", "prediction")}
            row.update(record.get("metrics") or {})
            row.update({f"baseline_{k}": v for k, v in (record.get("baseline") or {}).items()})
            writer.writerow(row)


def sheet_picks(records: list[dict], count: int = SHEET_ROWS) -> tuple[list[dict], list[dict]]:
    """The best and the worst scored records by CIEDE2000 (lowest and highest), without overlap."""
    ok = sorted((r for r in records if r["status"] == "ok"), key=lambda r: r["metrics"]["ciede2000"])
    best = ok[: min(count, (len(ok) + 1) // 2)]
    worst = ok[len(best) :][-count:][::-1]
    return best, worst


def write_sheet(path: Path, records: list[dict], colorizer=None) -> None:
    """A contact sheet PNG: rows of gray | prediction | reference, best then worst by CIEDE2000."""
    from colorcli.io.images import write_png

    best, worst = sheet_picks(records)
    if not best:
        raise UsageError("--sheet: no image was scored, so there is nothing to show")
    width = 3 * SHEET_CELL + 4 * _GAP
    strips = [_text_strip("gray  |  prediction  |  reference", width, 20, bold=True)]
    for title, picks in (("best (lowest CIEDE2000)", best), ("worst (highest CIEDE2000)", worst)):
        if not picks:
            continue
        strips.append(_text_strip(title, width, 22, bold=True))
        for record in picks:
            cells = [_fit(image) for image in load_triplet(pair_of(record), colorizer)]
            row = np.full((SHEET_CELL + 2 * _GAP, width, 3), 255, np.uint8)
            for k, cell in enumerate(cells):
                left = _GAP + k * (SHEET_CELL + _GAP)
                row[_GAP : _GAP + SHEET_CELL, left : left + SHEET_CELL] = cell
            scores = record["metrics"]
            label = f"{record['name']}  dE00 {scores['ciede2000']:.2f}  PSNR {scores['psnr']:.2f}"
            strips += [_text_strip(label, width, 16), row]
    sheet = np.concatenate(strips, axis=0)
    write_png(path, sheet)


def _fit(image: np.ndarray) -> np.ndarray:
    """An image scaled to fit a SHEET_CELL square (nearest-neighbour when enlarged), centred on white."""
    import cv2

    height, width = image.shape[:2]
    scale = SHEET_CELL / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = cv2.resize(image, size, interpolation=cv2.INTER_NEAREST if scale > 1 else cv2.INTER_AREA)
    cell = np.full((SHEET_CELL, SHEET_CELL, 3), 255, np.uint8)
    top, left = (SHEET_CELL - size[1]) // 2, (SHEET_CELL - size[0]) // 2
    cell[top : top + size[1], left : left + size[0]] = resized
    return cell


def _text_strip(text: str, width: int, height: int, bold: bool = False) -> np.ndarray:
    import cv2

    strip = np.full((height, width, 3), 255, np.uint8)
    scale = 0.42
    font = cv2.FONT_HERSHEY_SIMPLEX
    def fits(candidate: str) -> bool:
        return cv2.getTextSize(candidate, font, scale, 1)[0][0] <= width - 2 * _GAP

    if not fits(text):
        while text and not fits(text + "..."):
            text = text[:-1]
        text += "..."
    cv2.putText(strip, text, (_GAP, height - 5), font, scale, (0, 0, 0), 2 if bold else 1, cv2.LINE_AA)
    return strip


def pair_of(record: dict) -> Pair:
    return Pair(record["name"], Path(record["reference"]),
                None if record["prediction"] is None else Path(record["prediction"]))
