"""`colorcli eval` end to end on tiny image folders: prediction mode, benchmark mode, outputs, failures."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from colorcli.scoring import evaluate
from colorcli.scoring import metrics
from colorcli.cli import cli
from colorcli.models.runtime import Colorizer
from conftest import gradient_gray


def run_cli(*args) -> tuple[int, str, str]:
    """Run `colorcli ARGS`: (exit code, stdout, stderr)."""
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def colour_image(seed: int, height: int = 24, width: int = 20) -> np.ndarray:
    rng = np.random.default_rng(seed)
    gray = gradient_gray(height, width).astype(np.int16)
    rgb = np.stack([gray, np.roll(gray, seed + 3, axis=1), gray[::-1]], axis=2)
    rgb += rng.integers(-20, 21, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def save(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)
    return path


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture()
def folders(tmp_path):
    """REF with five colour images (two in a subfolder); PRED with four of them perturbed, one as JPEG,
    plus one prediction that has no reference."""
    ref, pred = tmp_path / "ref", tmp_path / "pred"
    names = ["a", "b", "sub/c", "sub/d", "e"]
    for i, name in enumerate(names):
        image = colour_image(i)
        save(ref / f"{name}.png", image)
        if name == "e":
            continue  # a reference without prediction
        shifted = np.clip(image.astype(np.int16) + (i + 1) * 7 - 10, 0, 255).astype(np.uint8)
        save(pred / (f"{name}.jpg" if name == "b" else f"{name}.png"), shifted)
    save(pred / "stray.png", colour_image(9))
    return ref, pred


def test_prediction_mode_scores_match_metrics_and_list_unmatched(folders, tmp_path):
    ref, pred = folders
    report_path = tmp_path / "out" / "scores.json"
    code, out, err = run_cli("eval", "--ref", ref, "--pred", pred, "--json", report_path, "--workers", 1)
    assert code == 0, err
    report = json.loads(report_path.read_text())
    assert set(report) >= {"summary", "baseline", "images", "unmatched", "failed"}
    assert set(report["summary"]) == {"n", *metrics.KEYS}
    assert set(report["baseline"]) == {"n", *metrics.KEYS}
    assert report["summary"]["n"] == report["baseline"]["n"] == 4
    assert report["unmatched"]["references_without_prediction"] == ["e"]
    assert report["unmatched"]["predictions_without_reference"] == ["stray"]
    assert "1 reference(s) without a prediction: e" in err
    assert "1 prediction(s) without a reference: stray" in err

    by_name = {record["name"]: record for record in report["images"]}
    assert sorted(by_name) == ["a", "b", "sub/c", "sub/d"]
    for name, record in by_name.items():
        reference = pixels(ref / f"{name}.png")
        prediction = pixels(Path(record["prediction"]))
        expected = metrics.score(prediction, reference)
        baseline = metrics.score(metrics.gray_baseline(reference), reference)
        assert record["status"] == "ok" and (record["width"], record["height"]) == (20, 24)
        for key in metrics.KEYS:
            assert record["metrics"][key] == pytest.approx(expected[key], abs=1e-4), (name, key)
            assert record["baseline"][key] == pytest.approx(baseline[key], abs=1e-4), (name, key)
    ciede = [record["metrics"]["ciede2000"] for record in by_name.values()]
    assert report["summary"]["ciede2000"]["mean"] == pytest.approx(np.mean(ciede), abs=1e-4)
    assert report["summary"]["ciede2000"]["median"] == pytest.approx(np.median(ciede), abs=1e-4)
    assert "gray baseline" in out and "CIEDE2000" in out  # the table


def test_size_mismatch_and_unreadable_files_fail_alone(folders):
    ref, pred = folders
    save(pred / "a.png", colour_image(0, 16, 20))  # a prediction of the wrong size
    (pred / "sub" / "c.png").write_bytes(b"not an image at all")
    code, out, err = run_cli("eval", "--ref", ref, "--pred", pred, "--workers", 1)
    assert code == 1
    assert "failed: a: size differs: prediction 20x16, reference 20x24" in err
    assert "failed: sub/c: prediction: not an image" in err
    assert "Traceback" not in err
    assert "2 scored, 2 failed" in err


def test_usage_errors_exit_2_with_one_line(folders, tmp_path):
    ref, pred = folders
    cases = [
        (["--ref", tmp_path / "missing", "--pred", pred], "--ref"),
        (["--ref", ref, "--pred", tmp_path / "missing"], "--pred"),
        (["--ref", ref / "a.png", "--pred", pred], "not a folder"),
        (["--ref", ref / "sub", "--pred", tmp_path / "empty"], "--pred"),
        (["--ref", ref, "--pred", pred, "--model", "x.onnx"], "benchmark mode"),
    ]
    (tmp_path / "empty").mkdir()
    for args, words in cases:
        code, _, err = run_cli("eval", *args)
        assert code == 2, (args, err)
        assert words in err and err.count("\n") == 1 and err.startswith("colorcli: error:"), err


def test_no_matching_names_is_a_usage_error(tmp_path):
    save(tmp_path / "ref" / "x.png", colour_image(1))
    save(tmp_path / "pred" / "y.png", colour_image(1))
    code, _, err = run_cli("eval", "--ref", tmp_path / "ref", "--pred", tmp_path / "pred")
    assert code == 2 and "matched by relative path without extension" in err


def test_benchmark_mode_colorizes_the_gray_input_with_the_model(folders, tmp_path, tiny_model_path):
    ref, _ = folders
    before = sorted(p.name for p in ref.rglob("*"))
    report_path = tmp_path / "bench.json"
    code, out, err = run_cli("eval", "--ref", ref, "--model", tiny_model_path, "--json", report_path,
                             "--workers", 1)
    assert code == 0, err
    assert sorted(p.name for p in ref.rglob("*")) == before  # nothing written beside the references
    report = json.loads(report_path.read_text())
    assert report["mode"] == "benchmark" and report["summary"]["n"] == 5
    assert report["model"]["path"] == str(tiny_model_path)
    colorizer = Colorizer.load(str(tiny_model_path), provider="cpu")
    for record in report["images"]:
        reference = pixels(Path(record["reference"]))
        gray = metrics.gray_baseline(reference)
        expected = metrics.score(colorizer.colorize(gray), reference)
        for key in metrics.KEYS:
            assert record["metrics"][key] == pytest.approx(expected[key], abs=1e-4), (record["name"], key)
    # The tiny model paints colour where the gray input has none.
    assert report["summary"]["colorfulness"]["mean"] > report["baseline"]["colorfulness"]["mean"] + 1
    assert "tiny" in out


def test_csv_and_contact_sheet_are_written(folders, tmp_path):
    ref, pred = folders
    csv_path, sheet_path = tmp_path / "o" / "scores.csv", tmp_path / "o" / "sheet.png"
    code, _, err = run_cli("eval", "--ref", ref, "--pred", pred, "--csv", csv_path, "--sheet", sheet_path,
                           "--workers", 1, "--quiet")
    assert code == 0, err
    rows = list(csv.DictReader(csv_path.open()))
    assert [row["name"] for row in rows] == ["a", "b", "sub/c", "sub/d"]
    assert set(evaluate.CSV_FIELDS) == set(rows[0])
    assert all(float(row["ciede2000"]) > 0 and float(row["baseline_ciede2000"]) > 0 for row in rows)
    sheet = np.asarray(Image.open(sheet_path).convert("RGB"))
    assert sheet.shape[1] == 3 * evaluate.SHEET_CELL + 4 * 4
    # Two best and two worst rows of 128 px images, plus title and label strips.
    assert sheet.shape[0] > 4 * evaluate.SHEET_CELL
    best, worst = evaluate.sheet_picks(evaluate.run(evaluate.match(ref, pred).pairs, workers=1))
    assert len(best) == len(worst) == 2
    assert best[0]["metrics"]["ciede2000"] <= best[1]["metrics"]["ciede2000"] <= worst[1]["metrics"]["ciede2000"]


def test_worker_processes_give_the_same_records_as_one_process(tmp_path, monkeypatch):
    ref, pred = tmp_path / "ref", tmp_path / "pred"
    for i in range(evaluate._CHUNK_MAX + 6):  # more than one chunk, so the pool is used
        image = colour_image(i, 16, 16)
        save(ref / f"{i:03d}.png", image)
        save(pred / f"{i:03d}.png", np.roll(image, 1, axis=0))
    (pred / "005.png").write_bytes(b"broken")
    pairs = evaluate.match(ref, pred).pairs
    done = []
    spawned = evaluate.run(pairs, workers=2, on_progress=done.append)
    assert spawned == evaluate.run(pairs, workers=1)
    assert done[-1] == len(pairs) and done == sorted(done)
    assert [r["status"] for r in spawned].count("failed") == 1 and spawned[5]["status"] == "failed"
    monkeypatch.setattr(evaluate, "_BATCH_PIXELS", 5 * 16 * 16)  # score every 5 images read
    assert evaluate.run(pairs, workers=1) == spawned


def test_fid_with_an_override_torchscript_network(folders, tmp_path):
    import torch

    from colorcli.scoring import fid as fid_metric

    torch.set_num_threads(1)

    class Features(torch.nn.Module):
        """A stand-in for the FID Inception network: per-channel means and spreads at two scales."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            small = torch.nn.functional.avg_pool2d(x, 13)
            return torch.cat([x.mean((2, 3)), x.std((2, 3)), small.mean((2, 3)), small.amax((2, 3))], 1)

    weights = tmp_path / "features.pt"
    with warnings.catch_warnings():  # torch 2.9+ deprecates TorchScript, the format FID networks ship in
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(Features()).save(str(weights))
    ref, pred = folders
    report_path = tmp_path / "fid.json"
    code, _, err = run_cli("eval", "--ref", ref, "--pred", pred, "--fid", "--fid-weights", weights,
                           "--json", report_path, "--workers", 1)
    assert code == 0, err
    fid = json.loads(report_path.read_text())["fid"]
    assert fid["n"] == 4 and "unreliable" in fid["warning"] and "unreliable" in err
    assert fid["fid"] > 0 and fid["fid_baseline"] > fid["fid"]  # grey is further from the colour refs
    features = np.random.default_rng(0).normal(size=(50, 6))
    assert fid_metric.frechet_distance(features, features) == pytest.approx(0.0, abs=1e-9)
    shifted = features + np.array([3.0, 0, 0, 0, 4.0, 0])
    assert fid_metric.frechet_distance(features, shifted) == pytest.approx(25.0, abs=1e-6)
