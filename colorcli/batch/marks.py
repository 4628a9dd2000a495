"""A curator's marks from the review page (review-marks.json) and `colorcli review OUT --apply`.

A file marked rejected has its output moved to OUT/.rejected/ and one marked redo to OUT/.redo/, each
keeping its path under OUT. A later colorize run leaves a rejected output alone unless --overwrite (the
pipeline looks in OUT/.rejected/), and colorizes a redo one again (its output is no longer there). A move
never replaces a file: an older copy already aside keeps its name and the newcomer gets a free one.
"""

from __future__ import annotations

import errno
import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from colorcli.errors import DataError

MARKS_NAME = "review-marks.json"
REJECTED_DIR = ".rejected"  # a later colorize skips what it finds here (pipeline)
# mark -> the folder under OUT its outputs are moved into
ASIDE = {"rejected": REJECTED_DIR, "redo": ".redo"}


@dataclass
class Applied:
    moved: dict[str, list[str]] = field(default_factory=lambda: {mark: [] for mark in ASIDE})
    already: list[str] = field(default_factory=list)  # moved aside by an earlier --apply
    absent: list[str] = field(default_factory=list)  # no output to move (a skipped or failed file)


def read_marks(path: Path) -> dict[str, str]:
    """{output path under OUT: mark} from a marks file the review page saved."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise DataError(f"{path}: not a readable review marks file ({reason})") from None
    marks = data.get("marks") if isinstance(data, dict) else None
    if not isinstance(marks, dict):
        raise DataError(f"{path}: not a review marks file (no \"marks\" object; save it from the review page)")
    for rel, mark in marks.items():
        if mark not in ASIDE:
            raise DataError(f"{path}: {rel}: unknown mark {mark!r} (expected {' or '.join(ASIDE)})")
        parts = PurePosixPath(rel).parts
        if not parts or PurePosixPath(rel).is_absolute() or ".." in parts or parts[0] in ASIDE.values():
            raise DataError(f"{path}: {rel!r} is not an output path inside the run's folder")
    return dict(marks)


def _move_without_replacing(src: Path, dst: Path) -> Path:
    """Move `src` to `dst`, or to dst's name with ~2, ~3... if that is taken; returns where it went. A hard
    link then an unlink never replaces a file; where links are not supported, os.replace onto a free name."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    for number in range(1, 10_000):
        target = dst if number == 1 else dst.with_name(f"{dst.stem}~{number}{dst.suffix}")
        try:
            os.link(src, target)
        except FileExistsError:
            continue
        except OSError as error:
            if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
            if target.exists():
                continue
            os.replace(src, target)
            return target
        os.unlink(src)
        return target
    raise DataError(f"{dst}: no free name to move {src} to")


def apply(out: Path, marks: dict[str, str], known: set[str], marks_path: Path) -> Applied:
    """Move each marked output aside (see the module's docstring). Every marked path must be an output
    that the run's reports list: marks saved from another run's page are refused before anything moves."""
    unknown = sorted(set(marks) - known)
    if unknown:
        raise DataError(f"{marks_path}: {len(unknown)} marked file(s) are not in the reports under {out} "
                        f"(first: {unknown[0]}); were the marks saved from this run's page?")
    applied = Applied()
    for rel, mark in sorted(marks.items()):
        src, aside = out / rel, out / ASIDE[mark] / rel
        if src.is_file():
            _move_without_replacing(src, aside)
            applied.moved[mark].append(rel)
        elif aside.is_file():
            applied.already.append(rel)
        else:
            applied.absent.append(rel)
    return applied
