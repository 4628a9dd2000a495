"""Thumbnails for the review page: made once, in parallel worker processes, and reused while their source
is unchanged.

Each thumbnail is a small JPEG of the picture as a viewer shows it (EXIF orientation applied), named after
its source's path. A manifest beside them (thumbs.json) records, per thumbnail, the source's size and
modification time it was made from and the source's own pixel size and orientation (the page needs them to
draw a print's box), so a later review reads no image that has not changed.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from colorcli.io.atomic import TEMP_SUFFIX, write_json

MANIFEST = "thumbs.json"
QUALITY = 85


@dataclass
class Made:
    """What make_all did: thumbnail name -> info (width, height, orientation of the source, and the
    thumbnail's own tw, th), or the reason the source could not be read; counts for the summary."""

    info: dict[str, dict] = field(default_factory=dict)
    made: int = 0
    reused: int = 0
    failed: int = 0


def name_for(source: Path) -> str:
    """The thumbnail's file name: a digest of its source's absolute path."""
    return hashlib.sha1(str(Path(source).absolute()).encode("utf-8")).hexdigest()[:20] + ".jpg"


def _stamp(source: Path) -> list[int] | None:
    try:
        info = os.stat(source)
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns]


def _read_jpeg_small(source: str, longest: int):
    """A grey or RGB JPEG decoded at the smallest of 1/8, 1/4, 1/2 or full scale that still has `longest`
    px on its longer side (libjpeg's DCT scaling: a 12 MP scan decodes many times faster); None for any
    other file, or one Pillow cannot decode this way (read_image then reads it, or says why not)."""
    import numpy as np
    from PIL import Image

    try:
        with Image.open(source) as img:
            if img.format != "JPEG" or img.mode not in ("L", "RGB"):
                return None
            width, height = img.size
            orientation = int(img.getexif().get(0x0112, 1))
            img.draft(img.mode, (longest, longest))
            img.load()
            return np.asarray(img), width, height, orientation if 1 <= orientation <= 8 else 1
    except Exception:  # noqa: BLE001 - read_image gives the reason
        return None


def make_one(source: str, target: str, longest: int) -> dict:
    """Read `source`, turn it upright, shrink it to `longest` px on its longer side and write it to `target`
    as a JPEG; returns the source's stored size and orientation and the thumbnail's size, or {"error"}."""
    import cv2

    from colorcli.errors import ColorcliError
    from colorcli.io.images import read_image, to_rgb8, to_uint8
    from colorcli.io.orientation import to_upright

    small = _read_jpeg_small(source, longest)
    if small is not None:
        pixels, width, height, orientation = small
    else:
        try:
            image = read_image(source)
        except ColorcliError as error:
            return {"error": str(error)}
        except Exception as error:  # noqa: BLE001 - a decoder's own error: this thumbnail fails, not the page
            return {"error": f"{type(error).__name__}: {error}".splitlines()[0]}
        pixels, orientation = to_uint8(image.pixels), image.orientation
        height, width = pixels.shape[:2]
    pixels = to_upright(pixels, orientation)
    scale = min(1.0, longest / max(pixels.shape[:2]))
    if scale < 1.0:
        size = (max(1, round(pixels.shape[1] * scale)), max(1, round(pixels.shape[0] * scale)))
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    bgr = cv2.cvtColor(to_rgb8(pixels), cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
    if not ok:
        return {"error": "the thumbnail could not be encoded"}
    _write(Path(target), encoded.tobytes())
    return {"width": width, "height": height, "orientation": orientation,
            "tw": int(pixels.shape[1]), "th": int(pixels.shape[0])}


def _write(target: Path, data: bytes) -> None:
    """Whole or not at all, like atomic_write, without its fsync: a thumbnail lost to a crash is made again."""
    temp = target.with_name(f".{target.name}.{os.getpid()}{TEMP_SUFFIX}")
    try:
        temp.write_bytes(data)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _make_chunk(tasks: list[tuple[str, str, int]], threads: int = 0) -> list[dict]:
    if threads:
        import cv2

        cv2.setNumThreads(threads)  # the workers share the cores: more OpenCV threads only contend
    return [make_one(*task) for task in tasks]


def _load_manifest(folder: Path) -> dict:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def make_all(sources: list[Path], folder: Path, longest: int, workers: int = 0) -> Made:
    """A thumbnail in `folder` of every source, made by `workers` processes (0: one per core); one whose
    source is unchanged since it was made is reused. Thumbnails of sources no longer asked for are removed."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = _load_manifest(folder)
    result, todo, stamps = Made(), [], {}
    for source in dict.fromkeys(Path(s) for s in sources):
        name, stamp = name_for(source), _stamp(source)
        stamps[name] = stamp
        known = manifest.get(name)
        if (stamp is not None and known and known.get("stamp") == stamp and known.get("longest") == longest
                and (folder / name).is_file()):
            result.info[name] = known["info"]
            result.reused += 1
        else:
            todo.append((str(source), str(folder / name), longest))
    for (_, target, _), info in zip(todo, _run(todo, workers)):
        name = Path(target).name
        result.info[name] = info
        if "error" in info:
            result.failed += 1
        else:
            result.made += 1
    fresh = {name: {"stamp": stamps[name], "longest": longest, "info": info}
             for name, info in result.info.items() if "error" not in info}
    write_json(folder / MANIFEST, fresh)
    for leftover in folder.iterdir():
        if leftover.name != MANIFEST and leftover.name not in fresh and not leftover.name.endswith(TEMP_SUFFIX):
            leftover.unlink(missing_ok=True)
    return result


def _run(todo: list[tuple[str, str, int]], workers: int) -> list[dict]:
    """make_one over every task, in worker processes when there is more than a handful."""
    workers = min(workers or os.cpu_count() or 1, max(1, len(todo) // 4))
    if workers <= 1:
        return _make_chunk(todo)
    from colorcli.batch.processes import worker_context

    size = max(1, min(32, len(todo) // (workers * 4)))
    chunks = [todo[i:i + size] for i in range(0, len(todo), size)]
    with ProcessPoolExecutor(workers, mp_context=worker_context()) as pool:
        return [info for done in pool.map(_make_chunk, chunks, [1] * len(chunks)) for info in done]
