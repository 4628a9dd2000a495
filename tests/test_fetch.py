"""colorcli fetch / models against a real HTTP server on 127.0.0.1 (a thread, stopped by the fixture)."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from colorcli.models import cache
from colorcli.models import registry
from colorcli.cli import cli
from colorcli.errors import ModelError
from colorcli.models.registry import ModelEntry, resolve_model
from conftest import make_tiny_model

SERVER_LIFETIME_S = 60  # the server shuts itself down after this even if a test hangs


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    truncated: set[str] = set()
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.hits.append(self.path)
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path in self.truncated:
            # Promise the whole body, send half of it, then drop the connection.
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    model = make_tiny_model(tmp_path / "served.onnx", native_size=64, size_unit=32, seed=3).read_bytes()
    handler = type("Handler", (_Handler,), {
        "files": {"/tiny.onnx": model, "/broken.onnx": model, "/garbage.onnx": b"not an onnx model" * 100},
        "truncated": {"/broken.onnx"},
        "hits": [],
    })
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.timeout = 5
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    watchdog = threading.Timer(SERVER_LIFETIME_S, httpd.shutdown)
    watchdog.daemon = True
    watchdog.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield base, model, handler.hits
    finally:
        watchdog.cancel()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def home(tmp_path, monkeypatch):
    folder = tmp_path / "home"
    monkeypatch.setenv(cache.HOME_ENV, str(folder))
    monkeypatch.setattr(registry, "EMBEDDED_DIR", tmp_path / "no-embedded")
    return folder


def publish(monkeypatch, name, url, data: bytes, sha256: str | None = None):
    entry = ModelEntry(name, url, sha256 or hashlib.sha256(data).hexdigest(), len(data), 64, "CC0-1.0", url + ".md")
    monkeypatch.setattr(registry, "REGISTRY", {name: entry})
    return entry


def run(argv, capsys) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, argv)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def cache_files(home: Path) -> list[str]:
    folder = home / "models"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_fetch_published_model_then_cache_hit(server, home, monkeypatch, capsys):
    base, model, hits = server
    publish(monkeypatch, "tiny", f"{base}/tiny.onnx", model)

    code, out, err = run(["fetch", "tiny"], capsys)
    assert code == 0, err
    assert "downloaded" in out
    assert cache_files(home) == ["tiny.json", "tiny.onnx"]  # no temp file left
    path = resolve_model("tiny")
    assert path == home / "models" / "tiny.onnx"
    assert path.read_bytes() == model
    assert hits == ["/tiny.onnx"]

    code, out, err = run(["fetch", "tiny"], capsys)
    assert code == 0, err
    assert "already cached" in out
    assert hits == ["/tiny.onnx"]  # verified from disk, not downloaded again


def test_wrong_hash_is_an_error_and_leaves_nothing(server, home, monkeypatch, capsys):
    base, model, hits = server
    publish(monkeypatch, "tiny", f"{base}/tiny.onnx", model, sha256="0" * 64)
    code, out, err = run(["fetch", "tiny"], capsys)
    assert code == 1
    assert "does not match" in err and len(err.strip().splitlines()) == 1
    assert cache_files(home) == []
    with pytest.raises(ModelError, match="not downloaded"):
        resolve_model("tiny")


def test_interrupted_download_leaves_nothing(server, home, monkeypatch, capsys):
    base, model, hits = server
    publish(monkeypatch, "tiny", f"{base}/broken.onnx", model)
    code, out, err = run(["fetch", "tiny"], capsys)
    assert code == 1
    assert "interrupted" in err and len(err.strip().splitlines()) == 1
    assert hits == ["/broken.onnx"]
    assert cache_files(home) == []


def test_corrupted_cache_file_is_refused_then_repaired(server, home, monkeypatch, capsys):
    base, model, hits = server
    publish(monkeypatch, "tiny", f"{base}/tiny.onnx", model)
    assert run(["fetch", "tiny"], capsys)[0] == 0
    cached = home / "models" / "tiny.onnx"
    damaged = bytearray(model)
    damaged[len(damaged) // 2] ^= 0xFF
    cached.write_bytes(bytes(damaged))

    with pytest.raises(ModelError, match="corrupt"):
        resolve_model("tiny")
    assert "corrupt" in run(["models"], capsys)[1]

    code, out, err = run(["fetch", "tiny"], capsys)
    assert code == 0, err
    assert "downloaded" in out
    assert hits == ["/tiny.onnx", "/tiny.onnx"]
    assert resolve_model("tiny").read_bytes() == model


def test_offline_is_one_line(home, capsys):
    with socket.socket() as probe:  # a port that was just free and is now closed: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, out, err = run(["fetch", f"http://127.0.0.1:{port}/m.onnx", "--sha256", "a" * 64], capsys)
    assert code == 1
    assert err.startswith("colorcli: error: cannot reach 127.0.0.1") and len(err.strip().splitlines()) == 1
    assert cache_files(home) == []


def test_url_needs_sha256_and_can_be_named(server, home, capsys):
    base, model, hits = server
    code, out, err = run(["fetch", f"{base}/tiny.onnx"], capsys)
    assert code == 2 and "--sha256" in err
    code, out, err = run(["fetch"], capsys)
    assert code == 2 and "give a model NAME" in err
    assert hits == []

    sha = hashlib.sha256(model).hexdigest()
    code, out, err = run(["fetch", f"{base}/tiny.onnx", "--sha256", sha.upper(), "--name", "mine"], capsys)
    assert code == 0, err
    assert resolve_model("mine").read_bytes() == model


def test_http_error_and_non_model_content(server, home, capsys):
    base, model, hits = server
    code, out, err = run(["fetch", f"{base}/missing.onnx", "--sha256", "b" * 64], capsys)
    assert code == 1 and "HTTP 404" in err

    garbage_sha = hashlib.sha256(b"not an onnx model" * 100).hexdigest()
    code, out, err = run(["fetch", f"{base}/garbage.onnx", "--sha256", garbage_sha], capsys)
    assert code == 1 and "not a loadable ONNX model" in err
    assert cache_files(home) == []


def test_import_local_model(tmp_path, home, capsys):
    source = make_tiny_model(tmp_path / "local.onnx", native_size=96, size_unit=32)
    code, out, err = run(["fetch", "--from", str(source), "--name", "local-1"], capsys)
    assert code == 0, err
    assert resolve_model("local-1").read_bytes() == source.read_bytes()
    assert resolve_model(None) == home / "models" / "local-1.onnx"  # the only cached model is the default


def test_import_refuses_models_outside_the_contract(tmp_path, home, capsys):
    import onnx

    source = make_tiny_model(tmp_path / "bad.onnx")
    model = onnx.load(str(source))
    kept = [(p.key, p.value) for p in model.metadata_props if p.key != "colorcli.size_unit"]
    del model.metadata_props[:]
    for key, value in kept:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(source))

    code, out, err = run(["fetch", "--from", str(source)], capsys)
    assert code == 1
    assert "colorcli.size_unit" in err
    assert cache_files(home) == []


def test_models_lists_cached_and_available(server, home, monkeypatch, capsys, tmp_path):
    base, model, hits = server
    publish(monkeypatch, "published", f"{base}/tiny.onnx", model)
    source = make_tiny_model(tmp_path / "own.onnx", native_size=64, size_unit=32)
    assert run(["fetch", "--from", str(source)], capsys)[0] == 0

    code, out, err = run(["fetch", "--from", str(source), "--name", "published"], capsys)
    assert code == 2 and "published model with another sha256" in err
    assert cache_files(home) == ["own.json", "own.onnx"]

    code, out, err = run(["models"], capsys)
    assert code == 0, err
    rows = {row.name: row for row in registry.list_models()}
    assert rows["own"].where == "cached" and rows["own"].status == "ok" and rows["own"].native_size == 64
    assert rows["published"].where == "available" and rows["published"].source == f"{base}/tiny.onnx"
    assert "own" in out and "published" in out and "available" in out


def test_colorize_with_a_fetched_model_by_name_and_by_default(server, home, monkeypatch, capsys, tmp_path):
    import numpy as np
    from PIL import Image

    from colorcli.io.images import read_image
    from conftest import gradient_gray

    base, model, hits = server
    publish(monkeypatch, "tiny", f"{base}/tiny.onnx", model)
    scans = tmp_path / "scans"
    scans.mkdir()
    Image.fromarray(gradient_gray(48, 64)).save(scans / "g.png")

    code, out, err = run(["colorize", str(scans), "--out", str(tmp_path / "none"), "--model", "tiny"], capsys)
    assert code == 1 and "colorcli fetch tiny" in err  # published but not downloaded yet

    assert run(["fetch", "tiny"], capsys)[0] == 0
    for label, extra in (("named", ["--model", "tiny"]), ("default", [])):
        code, out, err = run(["colorize", str(scans), "--out", str(tmp_path / label), "--workers", "0", *extra], capsys)
        assert code == 0, err
        pixels = read_image(tmp_path / label / "g.png").pixels
        assert pixels.ndim == 3 and np.ptp(pixels.astype(int), axis=2).mean() > 2  # real colour
