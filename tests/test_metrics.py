"""colorcli.scoring.metrics against scikit-image's reference implementations and the published gray baselines
(docs/models.md)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from skimage.color import deltaE_ciede2000, lab2rgb, rgb2lab
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from colorcli.scoring import metrics
from colorcli.errors import ImageError

from conftest import SHARED_DATA, gradient_gray


def _structured(height: int = 48, width: int = 64) -> np.ndarray:
    """A colour picture with edges, gradients and flat areas."""
    gray = gradient_gray(height, width).astype(np.int16)
    rgb = np.stack([gray, gray[::-1], np.roll(gray, width // 3, axis=1)], axis=2)
    rgb[height // 2 :, : width // 3] = (200, 40, 30)
    return rgb.astype(np.uint8)


def _pairs():
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    structured = _structured()
    shifted = np.clip(structured.astype(np.int16) + rng.integers(-25, 26, structured.shape), 0, 255).astype(np.uint8)
    gray = np.repeat(gradient_gray(48, 64)[:, :, None], 3, axis=2)
    return [
        ("random", noise, rng.integers(0, 256, noise.shape, dtype=np.uint8)),
        ("structured+noise", shifted, structured),
        ("gray-vs-colour", gray, structured),
        ("colour-vs-its-gray", metrics.gray_baseline(structured), structured),
    ]


PAIRS = _pairs()
IDS = [name for name, _, _ in PAIRS]


@pytest.mark.parametrize("name,pred,ref", PAIRS, ids=IDS)
def test_psnr_matches_skimage(name, pred, ref):
    assert metrics.psnr(pred, ref) == pytest.approx(peak_signal_noise_ratio(ref, pred, data_range=255), abs=1e-9)


@pytest.mark.parametrize("name,pred,ref", PAIRS, ids=IDS)
def test_ssim_matches_skimage(name, pred, ref):
    expected = structural_similarity(
        pred, ref, channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
    )
    assert metrics.ssim(pred, ref) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("name,pred,ref", PAIRS, ids=IDS)
def test_ciede2000_matches_skimage(name, pred, ref):
    expected = deltaE_ciede2000(rgb2lab(ref), rgb2lab(pred)).mean()
    assert metrics.ciede2000(pred, ref) == pytest.approx(expected, abs=1e-9)


def test_lab_and_per_pixel_ciede2000_match_skimage_on_every_hue():
    # Every 8-bit hue/chroma corner case, including opposite hues and grey pixels.
    rng = np.random.default_rng(3)
    first = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    second = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    second[:16] = np.repeat(second[:16, :, :1], 3, axis=2)  # grey rows: chroma 0 on one side
    lab1, lab2 = rgb2lab(first), rgb2lab(second)
    np.testing.assert_allclose(metrics.srgb_to_lab(first), lab1, atol=1e-9)
    np.testing.assert_allclose(metrics.delta_e_ciede2000(lab1, lab2), deltaE_ciede2000(lab1, lab2), atol=1e-9)


def _colorfulness_reference(rgb: np.ndarray) -> float:
    r, g, b = (rgb[:, :, i].astype(np.float64).ravel() for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.sqrt(np.std(rg) ** 2 + np.std(yb) ** 2) + 0.3 * np.sqrt(np.mean(rg) ** 2 + np.mean(yb) ** 2))


@pytest.mark.parametrize("name,pred,ref", PAIRS, ids=IDS)
def test_colorfulness_matches_formula(name, pred, ref):
    assert metrics.colorfulness(ref) == pytest.approx(_colorfulness_reference(ref), abs=1e-9)
    assert metrics.colorfulness(pred) == pytest.approx(_colorfulness_reference(pred), abs=1e-9)


def test_colorfulness_properties():
    gray = np.repeat(gradient_gray()[:, :, None], 3, axis=2)
    assert metrics.colorfulness(gray) == 0.0
    structured = _structured()
    assert metrics.colorfulness(structured) > 20.0
    # A flat colour has no spread: only the 0.3 * |mean| term is left.
    red = np.zeros((16, 16, 3), np.uint8)
    red[:, :, 0] = 200
    assert metrics.colorfulness(red) == pytest.approx(0.3 * np.hypot(200.0, 100.0))


def test_identical_images_are_capped_and_perfect():
    image = _structured()
    result = metrics.score(image, image.copy())
    assert result["psnr"] == metrics.PSNR_CAP == 60.0
    assert result["ssim"] == pytest.approx(1.0)
    assert result["ciede2000"] == 0.0
    assert result["delta_colorfulness"] == 0.0


def test_score_has_every_key_and_consistent_values():
    _, pred, ref = PAIRS[1]
    result = metrics.score(pred, ref)
    assert set(result) == set(metrics.KEYS)
    assert result["psnr"] == metrics.psnr(pred, ref)
    assert result["colorfulness"] == pytest.approx(metrics.colorfulness(pred))
    assert result["colorfulness_ref"] == pytest.approx(metrics.colorfulness(ref))
    assert result["delta_colorfulness"] == pytest.approx(abs(result["colorfulness"] - result["colorfulness_ref"]))


def test_score_batch_equals_per_image_score(monkeypatch):
    monkeypatch.setattr(metrics, "_PIXEL_BUDGET", 3 * 24 * 20)  # chunks of 3, the last partial
    rng = np.random.default_rng(11)
    ref = rng.integers(0, 256, (8, 24, 20, 3), dtype=np.uint8)
    ref[2] = _structured(24, 20)
    pred = np.clip(ref.astype(np.int16) + rng.integers(-40, 41, ref.shape), 0, 255).astype(np.uint8)
    pred[5] = ref[5]
    batch = metrics.score_batch(pred, ref)
    for i in range(len(ref)):
        single = metrics.score(pred[i], ref[i])
        for key in metrics.KEYS:
            assert batch[key][i] == pytest.approx(single[key], abs=1e-9), (key, i)
    assert batch["psnr"][5] == 60.0


def test_summarize_lists_and_arrays_agree():
    records = [metrics.score(pred, ref) for _, pred, ref in PAIRS]
    summary = metrics.summarize(records)
    assert summary["n"] == len(PAIRS)
    ciede = [record["ciede2000"] for record in records]
    assert summary["ciede2000"] == {"mean": pytest.approx(np.mean(ciede)), "median": pytest.approx(np.median(ciede))}
    columns = {key: np.array([record[key] for record in records]) for key in metrics.KEYS}
    assert metrics.summarize(columns) == summary
    assert metrics.summarize([]) == {"n": 0}


def test_gray_baseline_keeps_lightness_and_drops_colour():
    structured = _structured()
    gray = metrics.gray_baseline(structured)
    lab = rgb2lab(structured)
    lab[:, :, 1:] = 0.0
    np.testing.assert_array_equal(gray, np.rint(np.clip(lab2rgb(lab), 0, 1) * 255).astype(np.uint8))
    assert gray.shape == structured.shape and gray.dtype == np.uint8
    assert metrics.colorfulness(gray) < 0.2  # not 0: D65 white is linear RGB (1.00001, 0.99999, 1.00008)
    lab_gray, lab_ref = rgb2lab(gray), rgb2lab(structured)
    assert np.abs(lab_gray[:, :, 0] - lab_ref[:, :, 0]).max() < 0.5  # L kept to 8-bit rounding
    assert np.abs(lab_gray[:, :, 1:]).max() < 0.6  # a, b gone
    batch = metrics.gray_baseline(np.stack([structured, structured[::-1]]))
    np.testing.assert_array_equal(batch[0], gray)
    np.testing.assert_array_equal(batch[1], metrics.gray_baseline(np.ascontiguousarray(structured[::-1])))


def test_errors_are_clear():
    image = _structured()
    with pytest.raises(ImageError, match="differ in size: 64x48 vs 64x40"):
        metrics.score(image, image[:40])
    with pytest.raises(ImageError, match="8-bit"):
        metrics.psnr(image.astype(np.uint16), image)
    with pytest.raises(ImageError, match=r"RGB array \(H, W, 3\)"):
        metrics.ssim(image[:, :, 0], image[:, :, 0])
    with pytest.raises(ImageError, match="at least 11x11"):
        metrics.ssim(image[:8, :8], image[:8, :8])
    with pytest.raises(ImageError, match="differ in size"):
        metrics.score_batch(np.stack([image, image]), image[None])


def test_cifar10_gray_baseline_reproduces_readme():
    path = SHARED_DATA / "cifar-10-batches-py" / "test_batch"
    assert path.is_file(), f"shared data missing: {path}"
    with open(path, "rb") as file:
        rows = pickle.load(file, encoding="bytes")[b"data"]
    ref = rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
    assert ref.shape == (10000, 32, 32, 3)
    summary = metrics.summarize(metrics.score_batch(metrics.gray_baseline(ref), ref))
    mean = {key: summary[key]["mean"] for key in metrics.KEYS}
    # the CIFAR-10 gray baseline (docs/models.md): PSNR 24.41, SSIM 0.932, CIEDE2000 10.46, colourfulness 0.1
    # (originals 33.6); each figure is reproduced to within one unit of its last digit.
    assert mean["psnr"] == pytest.approx(24.41, abs=0.01)
    assert mean["ssim"] == pytest.approx(0.932, abs=0.001)
    assert mean["ciede2000"] == pytest.approx(10.46, abs=0.01)
    assert mean["colorfulness"] == pytest.approx(0.1, abs=0.1)
    assert mean["colorfulness_ref"] == pytest.approx(33.6, abs=0.1)
