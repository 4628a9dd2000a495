"""Finding the images in a folder tree: the walk that colorize, eval and the reports share."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Iterable

from colorcli.io.atomic import TEMP_SUFFIX
from colorcli.io.formats import INPUT_EXTENSIONS


def is_candidate(name: str) -> bool:
    return not name.endswith(TEMP_SUFFIX) and os.path.splitext(name)[1].lower() in INPUT_EXTENSIONS


def walk_images(root: Path, skip_dirs: Iterable[Path] = (), ignored: Counter | None = None) -> Iterable[Path]:
    """Image files under `root`, sorted, following symlinks but never a directory twice (loops are safe).
    Other files are counted by extension into `ignored` when it is given."""
    skip = {os.path.realpath(d) for d in skip_dirs}
    seen: set[tuple[int, int]] = set()
    stack = [str(root)]
    while stack:
        directory = stack.pop()
        try:
            info = os.stat(directory)
        except OSError:
            continue
        key = (info.st_dev, info.st_ino)
        if key in seen or os.path.realpath(directory) in skip:
            continue
        seen.add(key)
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                continue
            if is_dir:
                subdirs.append(entry.path)
            elif is_candidate(entry.name):
                yield Path(entry.path)
            elif ignored is not None and not entry.name.endswith(TEMP_SUFFIX):
                ignored[os.path.splitext(entry.name)[1].lower() or "(no extension)"] += 1
        stack.extend(reversed(subdirs))


def describe_ignored(ignored: Counter) -> str:
    """'312 files ignored (not images colorcli reads): .pdf ×300, .txt ×12'"""
    total = sum(ignored.values())
    kinds = ", ".join(f"{ext} ×{count}" for ext, count in sorted(ignored.items(), key=lambda kv: (-kv[1], kv[0])))
    return f"{total} file{'s' if total != 1 else ''} ignored (not images colorcli reads): {kinds}"


def printable_name(name: str) -> str:
    """A file name as text that XML and a terminal line can hold: bytes that are not UTF-8 (kept by Python
    as surrogates) as \\xNN, control characters (a newline in a name) as escapes."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)
