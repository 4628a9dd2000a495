"""Atomic file writes: a temp file in the target folder, flushed to disk, then renamed into place.

A reader (or a crash, or Ctrl-C) never sees a half-written file: either the old file or the new one.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile
from pathlib import Path

TEMP_SUFFIX = ".colorcli-tmp"


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files 0600; a finished file gets the usual permissions (0666 less the umask)
FILE_MODE = 0o666 & ~_current_umask()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb"):
    """Open a temp file beside `path`; on a clean exit it replaces `path`, on any error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, FILE_MODE)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def temp_beside(path: Path) -> Path:
    """An empty temp file in PATH's folder, named like atomic_write's so temp_files_of finds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(handle)
    os.chmod(temp, FILE_MODE)  # mkstemp's 0600 would otherwise survive the rename
    return Path(temp)


def write_json(path: str | os.PathLike, data) -> None:
    with atomic_write(path, "w") as handle:
        json.dump(data, handle, indent=2, default=str)
        handle.write("\n")


def temp_files_of(path: Path) -> list[Path]:
    """Temp files atomic_write may have left beside `path` if its process was killed outright."""
    return sorted(path.parent.glob(f".{glob.escape(path.name)}.*{TEMP_SUFFIX}"))
