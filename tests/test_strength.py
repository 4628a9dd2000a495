"""`--strength`: how much colour colorize and eval give (issue 36): 0 is grey, 1 the model's own, more is more;
the outputs' XMP and the report say which."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from colorcli.cli import cli
from colorcli.io.images import read_image
from colorcli.models.runtime import Colorizer
from colorcli.scoring import metrics
from conftest import gradient_gray


def _scans(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for index, (h, w) in enumerate([(64, 80), (90, 70), (48, 48)]):
        grey = np.roll(gradient_gray(h, w), 7 * index, axis=1)
        Image.fromarray(grey).save(folder / f"scan{index}.png")
    return folder


def _colorize(scans: Path, out: Path, model: Path, *extra) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["colorize", str(scans), "--out", str(out), "--model", str(model), "--workers",
                                      "1", "-q", *map(str, extra)], catch_exceptions=False)
    return result.exit_code, result.output


def _colourfulness(out: Path) -> float:
    return float(np.mean([metrics.colorfulness(read_image(p).pixels) for p in sorted(out.glob("*.png"))]))


def test_strength_zero_is_grey_and_more_strength_more_colour(tmp_path, tiny_model_path):
    scans = _scans(tmp_path / "scans")
    colour = {}
    for strength in (0, 0.5, 1, 1.5):
        out = tmp_path / f"out-{strength}"
        code, output = _colorize(scans, out, tiny_model_path, "--strength", strength)
        assert code == 0, output
        colour[strength] = _colourfulness(out)
        report = json.loads((out / "colorcli-report.json").read_text())
        assert report["strength"] == strength
        xmp = Image.open(out / "scan0.png").info["XML:com.adobe.xmp"]
        assert f"strength {strength:g}," in xmp
    assert colour[0] < 1.0
    assert colour[0] < colour[0.5] < colour[1] < colour[1.5]


def test_strength_one_is_the_model_unchanged_and_strength_scales_its_chroma(tiny_model_path):
    L = np.linspace(0, 100, 64 * 64, dtype=np.float32).reshape(1, 64, 64)
    plain = Colorizer.load(str(tiny_model_path)).predict_ab(L)
    assert np.array_equal(Colorizer.load(str(tiny_model_path), strength=1.0).predict_ab(L), plain)
    half = Colorizer.load(str(tiny_model_path), strength=0.5).predict_ab(L)
    assert np.allclose(half, 0.5 * plain, atol=1e-5)
    assert not Colorizer.load(str(tiny_model_path), strength=0).predict_ab(L).any()


def test_eval_takes_the_strength_and_reports_it(tmp_path, tiny_model_path):
    refs = tmp_path / "refs"
    refs.mkdir()
    rng = np.random.default_rng(0)
    for index in range(3):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(refs / f"r{index}.png")
    summaries = {}
    for strength in (0, 1.5):
        report = tmp_path / f"eval-{strength}.json"
        result = CliRunner().invoke(cli, ["eval", "--ref", str(refs), "--model", str(tiny_model_path), "--strength",
                                          str(strength), "--json", str(report), "--quiet", "--workers", "1"],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        data = json.loads(report.read_text())
        assert data["model"]["strength"] == strength
        summaries[strength] = data["summary"]
    assert summaries[0]["colorfulness"]["mean"] < 1.0 < summaries[1.5]["colorfulness"]["mean"]


@pytest.mark.parametrize("args", [["colorize", "IN", "--out", "OUT", "--strength", "-1"],
                                  ["colorize", "IN", "--out", "OUT", "--strength", "3.5"],
                                  ["eval", "--ref", "IN", "--pred", "IN", "--strength", "1"]])
def test_a_bad_strength_is_one_line_and_exit_2(tmp_path, args):
    scans = _scans(tmp_path / "in")
    args = [str(scans) if a == "IN" else str(tmp_path / "out") if a == "OUT" else a for a in args]
    run = subprocess.run([sys.executable, "-m", "colorcli", *args], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr and "strength" in run.stderr
    assert not (tmp_path / "out").exists()
