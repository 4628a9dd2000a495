"""The review page of a colorize run (`colorcli review OUT`): one card per file of the run's reports.

OUT/review/index.html holds everything the page needs except the thumbnails beside it (review/thumbs/):
its style, its script, and the cards' data as one JSON block; it fetches nothing and works opened straight
from the file system. Without JavaScript it is a plain table of every file and its status.
"""

from __future__ import annotations

import html
import json
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import quote

from colorcli.batch import reports, thumbs
from colorcli.batch.marks import ASIDE, MARKS_NAME
from colorcli.errors import UsageError
from colorcli.io.atomic import atomic_write

REVIEW_DIR = "review"
PAGE = "index.html"
THUMB_SIZE = 360
_ORDER = {"ok": 0, "skipped": 1, "failed": 2}


@dataclass
class Review:
    page: Path
    files: int
    thumbs: thumbs.Made


def merged_records(out: Path) -> list[dict]:
    """One record per output of every report under `out` (all shards and reruns), sorted by output: the
    last that colorized it, else the last that skipped it, else the last that failed it (as `colorcli
    report` counts them)."""
    paths = reports.find_reports(out)
    if not paths:
        raise UsageError(f"{out}: no colorcli report (colorcli-report*.json) under it; is it a colorize --out folder?")
    best: dict[str, dict] = {}
    for path in paths:
        report = reports.load(path)
        start = _run_folder(report, out)
        for record in report["files"]:
            record = _from(start, record)
            held = best.get(record["output"])
            if held is None or _ORDER.get(record["status"], 3) <= _ORDER.get(held["status"], 3):
                best[record["output"]] = record
    return [best[output] for output in sorted(best)]


def _run_folder(report: dict, out: Path) -> Path | None:
    """The folder colorize ran in, from which a report's relative paths start: OUT less the --out the
    report recorded, where that was relative (None where it cannot be told)."""
    given = Path(str((report.get("options") or {}).get("out") or ""))
    parts, absolute = given.parts, out.absolute().parts
    if not parts or given.is_absolute() or ".." in parts or absolute[len(absolute) - len(parts):] != parts:
        return None
    return Path(*absolute[:len(absolute) - len(parts)])


def _from(start: Path | None, record: dict) -> dict:
    """The record with its relative input and reference paths made absolute from `start`, so that a review
    run from another folder than colorize's still finds them."""
    if start is None:
        return record
    found = {key: str(start / record[key]) for key in ("input", "reference")
             if isinstance(record.get(key), str) and not Path(record[key]).is_absolute()}
    return {**record, **found} if found else record


def upright_box(box: list[int], width: int, height: int, orientation: int) -> list[float]:
    """[x, y, w, h] in stored pixels of a (height, width) scan as fractions of the picture a viewer shows
    (EXIF orientation applied), rounded to 1/10000."""
    x, y, w, h = box
    corners = [((x) / width, (y) / height), ((x + w) / width, (y + h) / height)]
    turn = {
        2: lambda u, v: (1 - u, v), 3: lambda u, v: (1 - u, 1 - v), 4: lambda u, v: (u, 1 - v),
        5: lambda u, v: (v, u), 6: lambda u, v: (1 - v, u), 7: lambda u, v: (1 - v, 1 - u), 8: lambda u, v: (v, 1 - u),
    }.get(orientation, lambda u, v: (u, v))
    (u0, v0), (u1, v1) = (turn(u, v) for u, v in corners)
    return [round(value, 4) for value in (min(u0, u1), min(v0, v1), abs(u1 - u0), abs(v1 - v0))]


def _after_path(out: Path, rel: str) -> tuple[Path | None, str | None]:
    """The output as it is now: in place, or moved aside by `review --apply` (and which mark moved it)."""
    if (out / rel).is_file():
        return out / rel, None
    for mark, folder in ASIDE.items():
        if (out / folder / rel).is_file():
            return out / folder / rel, mark
    return None, None


def _card(index: int, record: dict, made: thumbs.Made, sources: dict) -> dict:
    rel = record["output"]
    card = {"id": index, "output": rel, "input": record.get("input"), "status": record.get("status"),
            "reason": record.get("reason"), "folder": os.path.dirname(rel) or ".",
            "seconds": (record.get("seconds") or {}).get("total"), "metrics": record.get("metrics") or {},
            "reference": record.get("reference"), "mount": record.get("mount"), "tone": record.get("tone"),
            "mount_confidence": record.get("mount_confidence"),
            "aside": sources["aside"], "href": "../" + quote(rel)}
    if sources["aside"]:
        card["href"] = "../" + quote(f"{ASIDE[sources['aside']]}/{rel}")
    if record.get("metrics_error"):
        card["metrics_error"] = record["metrics_error"]
    for role in ("before", "after", "ref"):
        source = sources.get(role)
        info = made.info.get(thumbs.name_for(source)) if source else None
        card[role] = None if info is None or "error" in info else f"thumbs/{thumbs.name_for(source)}"
        if role == "before" and info and "error" not in info:
            card["w"], card["h"] = info["tw"], info["th"]
            boxes = record.get("prints") or ([record["print"]] if record.get("print") else [])
            card["boxes"] = [upright_box(box, info["width"], info["height"], info["orientation"]) for box in boxes]
    if card["after"] and "w" not in card:  # the input is gone or unreadable: size the card by the output
        info = made.info[thumbs.name_for(sources["after"])]
        card["w"], card["h"] = info["tw"], info["th"]
    return card


def build(out: Path, workers: int = 0, thumb_size: int = THUMB_SIZE) -> Review:
    """Write OUT/review/index.html and its thumbnails (made in parallel, reused while their source is
    unchanged); returns where and what was made."""
    records = merged_records(out)
    folder = out / REVIEW_DIR
    per_record, wanted = [], []
    for record in records:
        after, aside = _after_path(out, record["output"])
        sources = {"aside": aside, "after": after}
        if record.get("input"):  # a file that failed still shows what it was, if it reads at all
            sources["before"] = Path(record["input"])
        if record.get("reference"):
            sources["ref"] = Path(record["reference"])
        per_record.append(sources)
        wanted.extend(path for role, path in sources.items() if role != "aside" and path)
    made = thumbs.make_all(wanted, folder / "thumbs", thumb_size, workers)
    cards = [_card(i, record, made, sources) for i, (record, sources) in enumerate(zip(records, per_record))]
    page = folder / PAGE
    with atomic_write(page, "w") as handle:
        handle.write(render(cards, out))
    return Review(page=page, files=len(cards), thumbs=made)


def _asset(name: str) -> str:
    return resources.files("colorcli.batch").joinpath("review_page", name).read_text(encoding="utf-8")


def _summary(cards: list[dict]) -> str:
    counts = {status: sum(card["status"] == status for card in cards) for status in _ORDER}
    return f"{len(cards)} files: {counts['ok']} ok, {counts['skipped']} skipped, {counts['failed']} failed"


def _plain_table(cards: list[dict]) -> str:
    rows = "".join(
        f"<tr class=\"{html.escape(str(c['status']))}\"><td><a href=\"{html.escape(c['href'])}\">"
        f"{html.escape(c['output'])}</a></td><td>{html.escape(str(c['status']))}</td>"
        f"<td>{html.escape(c['reason'] or '')}</td></tr>\n" for c in cards)
    return f"<table class=\"plain\"><tr><th>file</th><th>status</th><th>reason</th></tr>\n{rows}</table>"


def render(cards: list[dict], out: Path) -> str:
    """The page: the template with its style, script, card data and plain table filled in."""
    metrics = sorted({name for card in cards for name in card["metrics"]})
    data = {"out": str(out.absolute()), "marks_file": MARKS_NAME, "metrics": metrics, "cards": cards}
    # every "<" escaped: nothing in a file name can end the <script> block or open a comment in it
    blob = json.dumps(data, separators=(",", ":"), ensure_ascii=False).replace("<", "\\u003c")
    values = {"/*REVIEW_CSS*/": _asset("review.css"), "{{TITLE}}": html.escape(str(out.absolute())),
              "{{SUMMARY}}": html.escape(_summary(cards)), "{{PLAIN_TABLE}}": _plain_table(cards),
              "{{DATA}}": blob, "/*REVIEW_JS*/": _asset("review.js")}
    tokens = re.compile("|".join(re.escape(token) for token in values))
    return tokens.sub(lambda match: values[match.group(0)], _asset("review.html"))
