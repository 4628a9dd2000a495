"""Where models come from: published entries (a typed table), the cache, and package data.

``resolve_model(spec)`` turns what the user typed after ``--model`` into a verified file:
an existing path first, then a cached name (sha256 re-checked on every hit), then a model
embedded in the package (``colorcli/models/NAME.onnx`` with its card ``NAME.json``).
No default is invented: with no model embedded and none cached the user is told how to get one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from colorcli.models import cache
from colorcli.models import contract
from colorcli.errors import ModelError, UsageError

EMBEDDED_DIR = Path(__file__).resolve().parent  # the embedded .onnx files lie beside this module


@dataclass(frozen=True)
class ModelEntry:
    """A published generator: where to download it and the hash that pins it."""

    name: str
    url: str
    sha256: str
    size: int  # bytes
    native_size: int  # side of the square it was trained at
    licence: str
    card: str  # URL of its model card


# Published models, by name. Entries are added only for real, uploaded files.
REGISTRY: dict[str, ModelEntry] = {}


@dataclass(frozen=True)
class ModelInfo:
    """One row of `colorcli models`."""

    name: str
    where: str  # "embedded", "cached" or "available"
    status: str  # "ok", "corrupt: ...", or "not downloaded"
    native_size: int | None
    size: int | None
    sha256: str
    licence: str
    source: str


def embedded_names() -> list[str]:
    if not EMBEDDED_DIR.is_dir():
        return []
    return sorted(p.stem for p in EMBEDDED_DIR.glob(f"*{cache.MODEL_SUFFIX}"))


def _embedded_card(name: str) -> dict:
    card_path = EMBEDDED_DIR / f"{name}.json"
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelError(f"embedded model {name!r} has no readable card {card_path.name}: {error}") from None
    if not isinstance(card, dict) or not isinstance(card.get("sha256"), str):
        raise ModelError(f"embedded model {name!r}: card {card_path.name} gives no sha256")
    return card


def embedded_model(name: str) -> Path | None:
    """The embedded model NAME after checking it against the sha256 in its card; None if absent."""
    path = EMBEDDED_DIR / f"{name}{cache.MODEL_SUFFIX}"
    if not path.is_file():
        return None
    expected = _embedded_card(name)["sha256"]
    stamp = cache.file_stamp(path)
    if cache.sha256_file(path) != expected:
        raise ModelError(f"embedded model {name!r} ({path}) does not match its card's sha256; reinstall colorcli")
    cache.remember_verified(path, stamp, expected)
    return path


def _pin(name: str) -> str | None:
    entry = REGISTRY.get(name)
    return entry.sha256 if entry else None


def _looks_like_path(spec: str) -> bool:
    return spec.lower().endswith(cache.MODEL_SUFFIX) or "/" in spec or os.sep in spec


def _default_model() -> Path:
    embedded = embedded_names()
    if embedded:
        return embedded_model(embedded[0])
    cached = cache.cached_names()
    if len(cached) == 1:
        return cache.lookup(cached[0], _pin(cached[0])).path
    if cached:
        raise ModelError(f"no default model; choose a cached one with --model NAME ({', '.join(cached)})")
    raise ModelError(
        "no model available: none is embedded or cached; run `colorcli fetch NAME` "
        "(see `colorcli models`) or pass --model path.onnx"
    )


def resolve_model(spec: str | None) -> Path:
    """The ONNX file for SPEC (a path, a cached name or an embedded name; None: the default)."""
    if spec is None:
        return _default_model()
    candidate = Path(spec).expanduser()
    if candidate.is_file():
        return candidate.resolve()
    if candidate.is_dir():
        raise ModelError(f"{spec}: is a folder, not an ONNX model file")
    if _looks_like_path(spec):
        raise ModelError(f"{spec}: model file not found")
    try:
        cache.check_name(spec)
    except UsageError:
        raise ModelError(f"{spec!r}: neither a model file nor a valid model name") from None
    cached = cache.lookup(spec, _pin(spec))
    if cached is not None:
        return cached.path
    embedded = embedded_model(spec)
    if embedded is not None:
        return embedded
    if spec in REGISTRY:
        raise ModelError(f"model {spec!r} is not downloaded; run `colorcli fetch {spec}`")
    known = sorted(set(REGISTRY) | set(cache.cached_names()) | set(embedded_names()))
    hint = f" (known: {', '.join(known)})" if known else ""
    raise ModelError(
        f"unknown model {spec!r}: not a file, not cached, not embedded{hint}; "
        "run `colorcli fetch NAME|URL` or pass --model path.onnx"
    )


def _as_int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def list_models() -> list[ModelInfo]:
    """Every model colorcli knows of: embedded, cached (hash re-checked), then published but not cached."""
    rows: list[ModelInfo] = []
    for name in embedded_names():
        path = EMBEDDED_DIR / f"{name}{cache.MODEL_SUFFIX}"
        try:
            card = _embedded_card(name)
            embedded_model(name)
            status = "ok"
        except ModelError:
            card, status = {}, "corrupt"
        rows.append(
            ModelInfo(
                name, "embedded", status, _as_int(card.get("native_size")), path.stat().st_size,
                str(card.get("sha256", "")), str(card.get("licence", "")), "package data",
            )
        )
    cached_set = set(cache.cached_names())
    for name in sorted(cached_set):
        entry = REGISTRY.get(name)
        path = cache.model_path(name)
        try:
            found = cache.lookup(name, _pin(name))
            record, status, sha = found.record, "ok", found.sha256
        except ModelError:
            record, status, sha = {}, "corrupt (fetch it again)", ""
        native = entry.native_size if entry else _as_int(record.get("metadata", {}).get(contract.META_NATIVE_SIZE))
        rows.append(
            ModelInfo(
                name, "cached", status, native, path.stat().st_size, sha,
                entry.licence if entry else "", str(record.get("source", "")),
            )
        )
    for name, entry in sorted(REGISTRY.items()):
        if name not in cached_set:
            rows.append(
                ModelInfo(
                    name, "available", "not downloaded", entry.native_size, entry.size,
                    entry.sha256, entry.licence, entry.url,
                )
            )
    return rows
