"""The generators published in export/ (and the one embedded in the package) are what their cards say.

Each must match its card's sha256 and size, load through the same code as colorize, keep the scan's
lightness, and actually colour: the CIFAR-10 model is scored on real test images against the gray
baseline, the photo model on a real archive sample.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorcli.models import cache
from colorcli.look import lab
from colorcli.scoring import metrics
from colorcli.models.runtime import Colorizer
from conftest import SHARED_DATA

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = sorted((ROOT / "export").glob("*.onnx"))
PHOTO_MODEL = "effnet-lite2-photos"


def assert_same_lightness(rgb: np.ndarray, gray: np.ndarray) -> None:
    """The model only adds chroma: L of the output is the input's, up to 8-bit rounding and gamut clipping."""
    difference = np.abs(lab.lightness(rgb) - lab.lightness(gray))
    assert difference.mean() < 0.6 and np.percentile(difference, 99) < 2.0


def test_export_folder_holds_the_two_shipped_models():
    assert {p.stem for p in PUBLISHED} >= {PHOTO_MODEL, "effnet-lite0-cifar10"}


@pytest.mark.parametrize("model", PUBLISHED, ids=lambda p: p.stem)
def test_model_matches_its_card_and_loads(model):
    card = json.loads(model.with_suffix(".json").read_text())
    assert card["sha256"] == cache.sha256_file(model)
    assert card["size"] == model.stat().st_size
    assert model.with_suffix(".md").read_text().count(card["sha256"]) == 1
    colorizer = Colorizer.load(str(model), provider="cpu")
    assert colorizer.info.native_size == card["native_size"]
    assert colorizer.size == card["inference_size"]
    assert colorizer.info.architecture == card["architecture"]
    described = colorizer.info.describe()
    assert (described["chroma_gain"], described["flip_average"], described["shift_average"]) == (
        card.get("chroma_gain", 1.0), card.get("flip_average", False), card.get("shift_average", False))


def test_the_one_embedded_model_is_the_published_photo_model():
    from colorcli.models import registry

    assert registry.embedded_names() == [PHOTO_MODEL]  # one embedded model, so it is the default
    embedded = ROOT / "colorcli" / "models" / f"{PHOTO_MODEL}.onnx"
    assert cache.sha256_file(embedded) == cache.sha256_file(ROOT / "export" / f"{PHOTO_MODEL}.onnx")


def test_cifar10_model_beats_gray_on_real_test_images():
    from colorcli.training.data import CIFAR_TEST, cifar_folder, read_cifar_batch

    refs = read_cifar_batch(cifar_folder(SHARED_DATA) / "test_batch", CIFAR_TEST["test_batch"])[:1000]
    colorizer = Colorizer.load(str(ROOT / "export" / "effnet-lite0-cifar10.onnx"), provider="cpu")
    grays = metrics.gray_baseline(refs)
    preds = np.stack([colorizer.colorize(gray) for gray in grays])
    ours = metrics.summarize(metrics.score_batch(preds, refs))
    gray = metrics.summarize(metrics.score_batch(grays, refs))
    assert ours["ciede2000"]["mean"] < gray["ciede2000"]["mean"] - 0.8
    assert ours["psnr"]["mean"] > gray["psnr"]["mean"] + 0.5
    assert ours["colorfulness"]["mean"] > 10.0
    assert_same_lightness(preds.reshape(-1, 32, 3), grays.reshape(-1, 32, 3))


def test_photo_model_colours_an_archive_sample_and_keeps_its_detail():
    sample = sorted((ROOT / "samples").glob("*.jpg"))[0]
    gray = np.asarray(Image.open(sample).convert("L"))
    colorizer = Colorizer.load(str(ROOT / "export" / f"{PHOTO_MODEL}.onnx"), provider="cpu")
    rgb = colorizer.colorize(gray)
    assert rgb.shape == gray.shape + (3,) and rgb.dtype == np.uint8
    assert metrics.colorfulness(rgb) > 5.0
    assert_same_lightness(rgb, gray)


def test_photo_model_beats_gray_on_photos_from_a_source_it_never_saw():
    """The photo protocol's report half of Urban100: a source the model never trained on."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from photo_protocol import is_grey_reference, protocol_sets

    report = [p for p in protocol_sets(SHARED_DATA)["urban100"]["report"] if not is_grey_reference(p)]
    assert len(report) > 40
    colorizer = Colorizer.load(str(ROOT / "export" / f"{PHOTO_MODEL}.onnx"), provider="cpu")
    ours, gray = [], []
    for path in report:
        ref = np.asarray(Image.open(path).convert("RGB"))
        grey = metrics.gray_baseline(ref)
        ours.append(metrics.score(colorizer.colorize(grey), ref))
        gray.append(metrics.score(grey, ref))
    ours, gray = metrics.summarize(ours), metrics.summarize(gray)
    assert ours["ciede2000"]["mean"] < gray["ciede2000"]["mean"]
    assert ours["psnr"]["mean"] > gray["psnr"]["mean"]
    assert ours["colorfulness"]["mean"] > 20.0
