"""resolve_model: a path, then a cached name (sha256 re-checked), then an embedded name."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from colorcli.models import cache
from colorcli.models import registry
from colorcli.errors import ModelError
from colorcli.models.fetch import import_model
from colorcli.models.registry import ModelEntry, resolve_model
from conftest import make_tiny_model


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.HOME_ENV, str(tmp_path / "home"))
    monkeypatch.setattr(registry, "REGISTRY", {})
    return tmp_path / "home"


@pytest.fixture
def embedded(tmp_path, monkeypatch):
    folder = tmp_path / "package-models"
    folder.mkdir()
    monkeypatch.setattr(registry, "EMBEDDED_DIR", folder)
    return folder


def embed(folder: Path, name: str, seed: int = 0) -> Path:
    path = make_tiny_model(folder / f"{name}.onnx", seed=seed)
    card = {"name": name, "sha256": cache.sha256_file(path), "native_size": 64, "size": path.stat().st_size}
    (folder / f"{name}.json").write_text(json.dumps(card))
    return path


def test_path_first(tmp_path, home, embedded, tiny_model_path):
    assert resolve_model(str(tiny_model_path)) == tiny_model_path.resolve()
    with pytest.raises(ModelError, match="missing.onnx: model file not found"):
        resolve_model(str(tmp_path / "missing.onnx"))
    with pytest.raises(ModelError, match="is a folder"):
        resolve_model(str(tmp_path))


def test_no_model_anywhere_says_how_to_get_one(home, embedded):
    with pytest.raises(ModelError) as error:
        resolve_model(None)
    message = str(error.value)
    assert "no model available" in message and "colorcli fetch NAME" in message and "--model path.onnx" in message
    assert "\n" not in message


def test_unknown_and_unfetched_names(home, embedded, monkeypatch):
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        resolve_model("nope")
    entry = ModelEntry("pub", "http://127.0.0.1:1/pub.onnx", "c" * 64, 1, 256, "CC0-1.0", "")
    monkeypatch.setattr(registry, "REGISTRY", {"pub": entry})
    with pytest.raises(ModelError, match=r"run `colorcli fetch pub`"):
        resolve_model("pub")


def test_cached_name_is_verified_on_every_hit(tmp_path, home, embedded):
    source = make_tiny_model(tmp_path / "a.onnx")
    cached = import_model(source, name="a")
    assert resolve_model("a") == cached.path
    assert resolve_model(None) == cached.path  # the only cached model

    cached.path.write_bytes(cached.path.read_bytes() + b"\0")
    with pytest.raises(ModelError, match="corrupt"):
        resolve_model("a")

    record = home / "models" / "a.json"
    record.unlink()
    with pytest.raises(ModelError, match="no valid record"):
        resolve_model("a")


def test_registry_pin_overrides_a_tampered_record(tmp_path, home, embedded, monkeypatch):
    cached = import_model(make_tiny_model(tmp_path / "p.onnx"), name="p")
    entry = ModelEntry("p", "http://127.0.0.1:1/p.onnx", "d" * 64, cached.size, 64, "CC0-1.0", "")
    monkeypatch.setattr(registry, "REGISTRY", {"p": entry})
    with pytest.raises(ModelError, match="corrupt"):
        resolve_model("p")


def test_several_cached_models_need_a_choice(tmp_path, home, embedded):
    import_model(make_tiny_model(tmp_path / "one.onnx", seed=1))
    import_model(make_tiny_model(tmp_path / "two.onnx", seed=2))
    with pytest.raises(ModelError, match=r"--model NAME \(one, two\)"):
        resolve_model(None)


def test_embedded_model_and_precedence(tmp_path, home, embedded):
    packaged = embed(embedded, "base")
    assert resolve_model("base") == packaged
    assert resolve_model(None) == packaged

    # A cached model of the same name wins over the embedded one.
    cached = import_model(make_tiny_model(tmp_path / "base.onnx", seed=5), name="base")
    assert resolve_model("base") == cached.path
    # The embedded model stays the default even when something is cached.
    assert resolve_model(None) == packaged

    rows = {(row.name, row.where): row for row in registry.list_models()}
    assert rows[("base", "embedded")].status == "ok" and rows[("base", "embedded")].native_size == 64
    assert rows[("base", "cached")].status == "ok"


def test_embedded_model_must_match_its_card(home, embedded):
    packaged = embed(embedded, "base")
    packaged.write_bytes(packaged.read_bytes()[:-1])
    with pytest.raises(ModelError, match="does not match its card"):
        resolve_model("base")
    (embedded / "base.json").unlink()
    with pytest.raises(ModelError, match="no readable card"):
        resolve_model(None)


def test_registry_import_stays_light():
    code = (
        "import sys, colorcli.models.registry, colorcli.models.cache\n"
        "heavy = [m for m in ('torch', 'onnx', 'onnxruntime', 'pooch', 'requests') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_model_checked_at_load_is_hashed_once_and_again_once_changed(home, embedded, monkeypatch):
    from colorcli.models.runtime import Colorizer

    packaged = embed(embedded, "base")
    expected = cache.sha256_file(packaged)
    hashed = []
    real = cache.file_hash
    monkeypatch.setattr(cache, "file_hash", lambda path, algorithm="sha256": hashed.append(path) or real(path, algorithm))
    colorizer = Colorizer.load("base")
    assert colorizer.model_sha256 == expected
    assert len(hashed) == 1  # the registry's check; the report and XMP reuse it

    packaged.write_bytes(packaged.read_bytes() + b"\0")  # changed after the check
    assert cache.model_sha256(packaged) == real(packaged) != expected
    assert len(hashed) == 2
