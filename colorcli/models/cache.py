"""The model cache: one folder of verified ONNX generators, each with a JSON record.

Layout: ``<home>/models/NAME.onnx`` and ``<home>/models/NAME.json`` (sha256, size, source, date).
``<home>`` is ``$COLORCLI_HOME`` when set, else the platform's user cache folder for colorcli.
A cached model is only handed out after its sha256 matches the record (and the registry pin, if
any) again; a file without a record is never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from colorcli.io import atomic
from colorcli.errors import ModelError, UsageError

HOME_ENV = "COLORCLI_HOME"
MODEL_SUFFIX = ".onnx"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class CachedModel:
    name: str
    path: Path
    sha256: str
    size: int
    record: dict  # source, fetch date and the model's contract metadata (native_size, size_unit, ...)


def home_dir() -> Path:
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("colorcli", appauthor=False))


def models_dir() -> Path:
    return home_dir() / "models"


def check_name(name: str) -> str:
    """A model name is a plain file stem: letters, digits, '.', '_', '-' (no path, no .onnx)."""
    if not _NAME.match(name) or name.lower().endswith(MODEL_SUFFIX):
        raise UsageError(
            f"invalid model name {name!r}: use letters, digits, '.', '_' or '-' (no path, no {MODEL_SUFFIX})"
        )
    return name


def check_sha256(value: str) -> str:
    value = value.strip().lower()
    if not _HEX64.match(value):
        raise UsageError(f"invalid sha256 {value!r}: expected 64 hexadecimal digits")
    return value


def file_hash(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB blocks (models and datasets are large)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    return file_hash(path, "sha256")


# Models this process has just checked against their pinned sha256 (the registry's embedded one, a cached
# one), by path and (size, mtime): the runtime names the model's sha256 in every report and XMP, and
# hashing a 20 MB model a second time costs every colorize start about 35 ms.
_VERIFIED: dict[Path, tuple[tuple[int, int], str]] = {}


def file_stamp(path: Path) -> tuple[int, int]:
    """(size, modification time in ns): taken before a file is hashed, it says whether it changed since."""
    status = path.stat()
    return status.st_size, status.st_mtime_ns


def remember_verified(path: Path, stamp: tuple[int, int], sha256: str) -> None:
    _VERIFIED[Path(path).resolve()] = (stamp, sha256)


def model_sha256(path: Path) -> str:
    """sha256 of a model file: the one checked a moment ago by the registry when the file is unchanged
    since (size and modification time), else hashed now."""
    known = _VERIFIED.get(Path(path).resolve())
    if known is not None and known[0] == file_stamp(path):
        return known[1]
    return sha256_file(path)


def _record_path(name: str) -> Path:
    return models_dir() / f"{name}.json"


def model_path(name: str) -> Path:
    return models_dir() / f"{name}{MODEL_SUFFIX}"


def _read_record(name: str) -> dict | None:
    try:
        record = json.loads(_record_path(name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("sha256"), str) else None


def cached_names() -> list[str]:
    """Names with a model file in the cache (verified or not), sorted."""
    folder = models_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob(f"*{MODEL_SUFFIX}") if _NAME.match(p.stem))


def lookup(name: str, pinned_sha256: str | None = None) -> CachedModel | None:
    """The cached model NAME after re-checking its sha256; None when it is not cached.

    Raises ModelError when the file is there but has no record or does not match its hash.
    """
    path = model_path(name)
    if not path.is_file():
        return None
    record = _read_record(name)
    if record is None:
        raise ModelError(f"cached model {name!r} ({path}) has no valid record; run `colorcli fetch {name}` again")
    expected = pinned_sha256 or record["sha256"]
    stamp = file_stamp(path)
    actual = sha256_file(path)
    if actual != expected or actual != record["sha256"]:
        raise ModelError(
            f"cached model {name!r} ({path}) is corrupt: sha256 {actual[:12]}… does not match "
            f"{expected[:12]}…; run `colorcli fetch {name}` again"
        )
    remember_verified(path, stamp, actual)
    return CachedModel(name, path, actual, path.stat().st_size, record)


def install(name: str, temp_file: Path, sha256: str, source: str, metadata: dict[str, str]) -> CachedModel:
    """Move a verified temp file (already inside models_dir()) into place and write its record."""
    from datetime import datetime, timezone

    fetched = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    size = temp_file.stat().st_size
    record = {"name": name, "sha256": sha256, "size": size, "source": source, "fetched": fetched, "metadata": metadata}
    target = model_path(name)
    # The record goes first: a crash in between leaves a record whose hash the old file fails,
    # which lookup reports as corrupt rather than trusting a stale file.
    atomic.write_json(_record_path(name), record)
    os.replace(temp_file, target)
    return CachedModel(name, target, sha256, size, record)
