"""Getting models into the cache: download (pooch over HTTP) or import a local file.

Every path into the cache is the same: bytes land in a temp file inside the cache folder, the
sha256 is checked, the file is loaded with ONNX Runtime and checked against the model contract
(runtime.validate_model, which export uses too), and only then is it renamed into place. Any
failure removes the temp file, so nothing half-made is left behind.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from colorcli.io import atomic
from colorcli.models import cache
from colorcli.models import registry
from colorcli.errors import DownloadError, ModelError, UsageError

ProgressCallback = Callable[[int, int], None]  # (bytes done, bytes total; 0 when unknown)


def is_url(spec: str) -> bool:
    return urlparse(spec).scheme in ("http", "https")


class _PoochProgress:
    """The tqdm-like object pooch's HTTPDownloader drives, forwarded to a plain callback."""

    def __init__(self, callback: ProgressCallback):
        self.callback = callback
        self.total = 0
        self.done = 0

    def update(self, count: int) -> None:
        self.done += count
        self.callback(min(self.done, self.total) if self.total else self.done, self.total)

    def reset(self) -> None:
        self.done = 0

    def close(self) -> None:
        pass


def _download(url: str, target: Path, progress: ProgressCallback | None, timeout: float) -> None:
    import pooch
    import requests

    downloader = pooch.HTTPDownloader(
        progressbar=_PoochProgress(progress) if progress else False, chunk_size=1 << 16, timeout=timeout
    )
    host = urlparse(url).netloc
    try:
        downloader(url, str(target), None)
    except requests.exceptions.HTTPError as error:
        raise DownloadError(f"cannot download {url}: HTTP {error.response.status_code}") from None
    except requests.exceptions.ChunkedEncodingError:
        raise DownloadError(f"download of {url} was interrupted; nothing was saved, try again") from None
    except requests.exceptions.Timeout:
        raise DownloadError(f"download of {url} timed out after {timeout:g} s; nothing was saved") from None
    except requests.exceptions.ConnectionError:
        raise DownloadError(f"cannot reach {host}: offline or server down (nothing was saved)") from None
    except requests.exceptions.RequestException as error:
        raise DownloadError(f"cannot download {url}: {error}") from None


def _admit(name: str, temp: Path, expected_sha256: str | None, source: str) -> cache.CachedModel:
    """Verify a temp file inside the cache folder and rename it into place."""
    actual = cache.sha256_file(temp)
    if expected_sha256 and actual != expected_sha256:
        raise DownloadError(
            f"{source}: sha256 {actual} does not match the expected {expected_sha256}; nothing was saved"
        )
    entry = registry.REGISTRY.get(name)
    if entry is not None and actual != entry.sha256:
        raise UsageError(f"{name!r} is a published model with another sha256; choose another --name")
    from colorcli.models.runtime import validate_model

    metadata = validate_model(temp, label=source)
    return cache.install(name, temp, actual, source, metadata)


def fetch_model(
    spec: str,
    sha256: str | None = None,
    name: str | None = None,
    progress: ProgressCallback | None = None,
    timeout: float = 30.0,
) -> tuple[cache.CachedModel, bool]:
    """Download a published model NAME, or a URL pinned by SHA256, into the cache.

    Returns the cached model and whether it was downloaded (False: a verified cache hit).
    """
    expected = cache.check_sha256(sha256) if sha256 else None
    if is_url(spec):
        if expected is None:
            raise UsageError(f"a URL needs --sha256 HEX to pin its content: {spec}")
        url = spec
        name = cache.check_name(name or Path(urlparse(spec).path).stem or "model")
    else:
        entry = registry.REGISTRY.get(spec)
        if entry is None:
            known = ", ".join(sorted(registry.REGISTRY)) or "none published yet"
            raise ModelError(f"unknown model {spec!r} (published: {known}); for a URL pass it with --sha256 HEX")
        if expected and expected != entry.sha256:
            raise UsageError(f"--sha256 does not match the published hash of {spec!r}")
        url, expected = entry.url, entry.sha256
        name = cache.check_name(name or entry.name)

    try:
        hit = cache.lookup(name, expected)
    except ModelError:
        hit = None  # corrupt or a different file under this name: download again over it
    if hit is not None:
        return hit, False

    temp = atomic.temp_beside(cache.model_path(name))
    try:
        _download(url, temp, progress, timeout)
        return _admit(name, temp, expected, url), True
    finally:
        temp.unlink(missing_ok=True)


def import_model(source: Path, name: str | None = None, sha256: str | None = None) -> cache.CachedModel:
    """Copy a local .onnx into the cache after checking it (and its sha256 when given)."""
    source = Path(source)
    if not source.is_file():
        raise ModelError(f"{source}: no such model file")
    name = cache.check_name(name or source.stem)
    expected = cache.check_sha256(sha256) if sha256 else None
    temp = atomic.temp_beside(cache.model_path(name))
    try:
        shutil.copyfile(source, temp)
        return _admit(name, temp, expected, str(source.resolve()))
    finally:
        temp.unlink(missing_ok=True)
