"""Decode-once copies of training photos: decoded, resized and stored on disk, then read back by mmap.

A folder of 100,000 JPEGs takes minutes to decode on two cores; a training run should pay that once,
not at every start. ``load_or_prepare(files, decode, key, folder)`` decodes each file with ``decode``
(uint8 RGB, or a string saying why it is skipped) and stores the results as one flat uint8 file with an
index, under a name that hashes ``key`` and every file's path, size and modification time, so that a
changed photo or another load size makes a new copy instead of reusing a stale one. Reading it back
maps the file: the pages come from the OS cache, and memory is not held twice.

Layout of ``FOLDER/<key>-<digest>/``: ``pixels.u8`` (the images, row-major HxWx3, back to back),
``index.npy`` (int64 [n, 4]: offset, height, width, status; status 0 = used, else an index into
``STATUSES``) and ``index.json`` (format, key, counts), written last: the folder is built under a
temporary name and renamed into place whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np

from colorcli.errors import DataError

FORMAT = "colorcli.prepared/1"
STATUSES = ("used", "gray", "unreadable")
Progress = Callable[[int, int], None]


def _digest(files: list[Path], key: str) -> str:
    digest = hashlib.sha256(f"{FORMAT}\n{key}\n".encode())
    for path in files:
        stat = path.stat()
        digest.update(f"{path}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def _read(target: Path) -> tuple[list[np.ndarray], dict]:
    meta = json.loads((target / "index.json").read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise DataError(f"{target}: not a prepared copy of format {FORMAT}")
    index = np.load(target / "index.npy")
    if not (index[:, 3] == 0).any():
        return [], meta
    pixels = np.memmap(target / "pixels.u8", dtype=np.uint8, mode="r")  # an empty file cannot be mapped
    images = [pixels[offset : offset + h * w * 3].reshape(h, w, 3)
              for offset, h, w, status in index if status == 0]
    return images, meta


def _build(files: list[Path], decode: Callable, key: str, target: Path, workers: int,
           progress: Progress | None) -> None:
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        index = np.zeros((len(files), 4), np.int64)
        counts = dict.fromkeys(STATUSES, 0)
        offset = 0
        start = last = time.monotonic()
        with open(work / "pixels.u8", "wb") as out, ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for i, result in enumerate(pool.map(decode, files)):  # PIL and cv2 release the GIL
                if isinstance(result, str):
                    index[i] = (0, 0, 0, STATUSES.index(result))
                    counts[result] += 1
                else:
                    h, w = result.shape[:2]
                    out.write(np.ascontiguousarray(result, dtype=np.uint8).tobytes())
                    index[i] = (offset, h, w, 0)
                    offset += h * w * 3
                    counts["used"] += 1
                if progress is not None and (time.monotonic() - last >= 10 or i + 1 == len(files)):
                    last = time.monotonic()
                    progress(i + 1, len(files))
            out.flush()
            os.fsync(out.fileno())
        np.save(work / "index.npy", index)
        meta = {"format": FORMAT, "key": key, "files": len(files), "counts": counts, "bytes": offset,
                "seconds": round(time.monotonic() - start, 1),
                "images_per_s": round(len(files) / max(time.monotonic() - start, 1e-9), 1)}
        (work / "index.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        try:
            os.rename(work, target)
        except OSError:  # another run made the same copy meanwhile: keep theirs
            if not (target / "index.json").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def load_or_prepare(files: list[Path], decode: Callable[[Path], np.ndarray | str], key: str, folder: Path,
                    workers: int = 2, progress: Progress | None = None) -> tuple[list[np.ndarray], dict]:
    """The decoded images of ``files`` (those ``decode`` did not skip, in order) and the copy's record:
    ``counts`` per status, ``reused`` (True when the copy already existed), the load rate and ``path``."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{key}-{_digest(files, key)}"
        reused = (target / "index.json").is_file()
        if not reused:
            _build(files, decode, key, target, workers, progress)
        start = time.monotonic()
        images, meta = _read(target)
    except OSError as error:
        raise DataError(f"{folder}: cannot prepare the training photos there ({error.strerror or error})") from None
    meta.update(reused=reused, path=str(target),
                load_images_per_s=round(len(files) / max(time.monotonic() - start, 1e-9), 1))
    return images, meta
