"""Lab split/merge against skimage (an independent implementation), round trips, grey detection."""

import cv2
import numpy as np
import pytest
from skimage import color as skcolor

from colorcli.look import lab as color
from colorcli.io.images import read_image
from conftest import SHARED_DATA, gradient_gray

RNG = np.random.default_rng(7)


def test_rgb_to_lab_matches_skimage():
    rgb = RNG.random((40, 50, 3)).astype(np.float32)
    ours = color.rgb_to_lab(rgb)
    reference = skcolor.rgb2lab(rgb.astype(np.float64))
    assert ours.shape == (40, 50, 3) and ours.dtype == np.float32
    # OpenCV's float conversion rounds its constants: within 0.5 Lab units of skimage's exact formula
    assert np.abs(ours - reference).max() < 0.5
    assert np.abs(ours - reference).mean() < 0.1


def test_uint8_and_uint16_inputs_agree_with_float():
    rgb8 = RNG.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    rgb16 = rgb8.astype(np.uint16) * 257
    assert np.abs(color.rgb_to_lab(rgb8) - color.rgb_to_lab(rgb16)).max() < 1e-3


def test_lightness8_matches_skimage_for_every_grey_level():
    grey = np.arange(256, dtype=np.uint8)[None, :]
    reference = skcolor.rgb2lab(np.repeat(grey[..., None], 3, axis=2) / 255.0)[..., 0]
    L = color.lightness8(grey).astype(np.float64) / color.L8_PER_L
    assert np.abs(L - reference).max() < 0.5  # 8-bit L steps are 0.39


def test_lightness8_of_grey_is_opencvs_own_8bit_l_of_the_same_grey():
    """The stored table must be what OpenCV's 8-bit RGB->Lab gives, since Lab2RGB reads it back."""
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    opencv = cv2.cvtColor(np.repeat(grey[..., None], 3, axis=2), cv2.COLOR_RGB2Lab)[..., 0]
    assert np.array_equal(color.lightness8(grey), opencv)
    assert np.array_equal(color.lightness8(np.dstack([grey, grey, grey])), opencv)


def test_gray_round_trip_with_zero_chroma_keeps_every_level():
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    L = color.full_lightness(grey)
    rgb = color.merge_prediction(grey, L, np.zeros((4, 4, 2), np.float32))
    assert rgb.shape == (16, 16, 3) and rgb.dtype == np.uint8
    assert np.abs(rgb.astype(int) - grey[..., None]).max() <= 1


def test_gray_round_trip_16bit():
    grey = gradient_gray(64, 80, np.uint16)
    rgb = color.merge_prediction(grey, color.full_lightness(grey), np.zeros((8, 8, 2), np.float32))
    assert rgb.dtype == np.uint16 and rgb.shape == (64, 80, 3)
    assert np.abs(rgb.astype(int) - grey[..., None].astype(int)).max() <= 2


def test_exact_16bit_path_matches_skimage():
    rgb16 = RNG.integers(0, 65536, (24, 24, 3), dtype=np.uint16)
    lab = skcolor.rgb2lab(rgb16 / 65535.0)
    assert np.abs(color.lightness16(rgb16) - lab[..., 0]).max() < 1e-3
    back = color.merge_lab16(lab[..., 0].astype(np.float32), lab[..., 1:].astype(np.float32))
    assert np.abs(back.astype(int) - rgb16.astype(int)).max() <= 20  # float32: < 0.1 of an 8-bit level


def test_merge_prediction_upsamples_chroma_and_keeps_L():
    grey = gradient_gray(60, 90)
    L = color.full_lightness(grey)
    ab = np.zeros((8, 8, 2), np.float32)
    ab[..., 0], ab[..., 1] = 20.0, 30.0  # warm orange everywhere
    rgb = color.merge_prediction(grey, L, ab)
    lab = skcolor.rgb2lab(rgb / 255.0)
    mid = (lab[..., 0] > 25) & (lab[..., 0] < 75)  # away from the gamut's ends
    assert np.abs(lab[..., 1][mid] - 20).mean() < 1.5 and np.abs(lab[..., 2][mid] - 30).mean() < 1.5
    assert np.abs(lab[..., 0] - L / color.L8_PER_L).mean() < 1.0


def test_model_input_is_L_at_model_size():
    grey = gradient_gray(100, 150)
    small = color.model_input(color.full_lightness(grey), 32)
    assert small.shape == (32, 32) and small.dtype == np.float32
    expected = skcolor.rgb2lab(np.repeat(grey[..., None], 3, axis=2) / 255.0)[..., 0]
    assert abs(small.mean() - expected.mean()) < 0.5 and 0 <= small.min() and small.max() <= 100


def test_model_input_of_a_large_scan_is_the_area_average():
    """A large scan is area-averaged down its columns, then along its rows: the one-step area average
    to within a grey level of rounding; a small picture takes one step as before."""
    photo = read_image(SHARED_DATA / "photos" / "val" / "bsds500" / "101085.jpg").pixels
    L_photo = color.full_lightness(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY))
    big = cv2.resize(L_photo, (L_photo.shape[1] * 7 + 3, L_photo.shape[0] * 7 + 1), interpolation=cv2.INTER_CUBIC)
    for size in (192, 256):
        one_step = cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / color.L8_PER_L
        separable = color.model_input(big, size)
        difference = np.abs(separable - one_step)
        levels = difference * color.L8_PER_L
        assert levels.mean() < 0.1 and levels.max() <= 1.0001, (size, levels.mean(), levels.max())
    small = color.model_input(L_photo, 256)
    assert np.array_equal(small, cv2.resize(L_photo, (256, 256), interpolation=cv2.INTER_AREA) / np.float32(color.L8_PER_L))


@pytest.mark.parametrize("channels", [3, 4])
def test_8bit_merge_by_table_gives_opencvs_own_lab2rgb_bytes(channels):
    """The 8-bit merge looks colours up in a table made by OpenCV's Lab2RGB: it must give the very bytes
    that conversion gives, for every L and over the whole range of a and b."""
    rng = np.random.default_rng(11)
    grey = rng.integers(0, 256, (300, 257), dtype=np.uint8)
    ab_small = rng.uniform(-128, 127, (9, 7, 2)).astype(np.float32)
    ab_small[0, 0], ab_small[-1, -1] = (-128, -128), (127, 127)  # both ends of both channels
    rgb = color.merged_rows(grey, ab_small, channels=channels)(0, 300)
    ab8 = cv2.resize(np.clip(ab_small + 128, 0, 255).round().astype(np.uint8), (257, 300),
                     interpolation=cv2.INTER_LINEAR)
    expected = cv2.cvtColor(cv2.merge([color.lightness8(grey), ab8]), cv2.COLOR_Lab2RGB, dstCn=channels)
    assert rgb.shape == (300, 257, channels) and np.array_equal(rgb, expected)


def _toned(grey: np.ndarray) -> np.ndarray:
    """A sepia print: chroma along one warm hue, strongest in the mid-tones."""
    L = grey.astype(np.float64) / 255.0 * 100.0
    strength = np.sin(np.pi * L / 100.0) * 18.0
    lab = np.dstack([L, strength * 0.35, strength])
    return (np.clip(skcolor.lab2rgb(lab), 0, 1) * 255).round().astype(np.uint8)


def test_is_grayscale_on_synthetic_pictures():
    grey = gradient_gray(64, 64)
    assert color.is_grayscale(grey)
    assert color.is_grayscale(np.repeat(grey[..., None], 3, axis=2))
    assert color.is_grayscale(_toned(grey))
    # four hues, each over the same range of lightness, as objects in a colour photo are
    ramp = np.linspace(30.0, 80.0, 32)[None, :].repeat(32, axis=0)
    blocks = [np.dstack([ramp, ramp * 0 + a, ramp * 0 + b]) for a, b in ((45, 30), (-40, 35), (10, -45), (-5, 60))]
    lab = np.vstack([np.hstack(blocks[:2]), np.hstack(blocks[2:])])
    colourful = (np.clip(skcolor.lab2rgb(lab), 0, 1) * 255).round().astype(np.uint8)
    assert not color.is_grayscale(colourful)


def test_is_grayscale_on_real_photographs():
    archive = SHARED_DATA / "archive"
    assert archive.is_dir(), f"shared data missing: {archive}"
    toned = read_image(archive / "1890sShoeShopOhio.jpg").pixels  # a sepia print (99th-pct chroma 34)
    assert toned.ndim == 3 and color.is_grayscale(toned)
    for name in ("101085.jpg", "102061.jpg", "105025.jpg"):
        photo = read_image(SHARED_DATA / "photos" / "val" / "bsds500" / name).pixels
        assert not color.is_grayscale(photo), name


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_full_lightness_depth(dtype):
    grey = gradient_gray(10, 12, dtype)
    L = color.full_lightness(grey)
    assert L.shape == (10, 12)
    assert L.dtype == (np.uint8 if dtype == np.uint8 else np.float32)


def test_grey16_lightness_table_equals_the_direct_conversion_for_every_level():
    every_level = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    assert np.array_equal(color.full_lightness(every_level), color.lightness16(every_level))
    rgb = np.repeat(every_level[..., None], 3, axis=2)  # RGB scans still take the formula
    assert np.abs(color.full_lightness(rgb) - color.full_lightness(every_level)).max() < 1e-3


def _lab_to_rgb16_float64(lab: np.ndarray) -> np.ndarray:
    """The formula merge_lab16 computes (its white point and matrix), in float64 with the power function."""
    fy = (lab[..., 0] + 16.0) / 116.0
    f = np.stack([fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0], axis=-1)
    xyz = np.where(f > 6.0 / 29.0, f ** 3, (116.0 * f - 16.0) * 27.0 / 24389.0) * color._WHITE.astype(np.float64)
    linear = np.clip(xyz @ color._XYZ_TO_RGB.astype(np.float64).T, 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055) * 65535.0


def test_merge_lab16_is_the_exact_formula_to_a_16bit_level():
    lab = np.stack([RNG.uniform(0, 100, (64, 64)), RNG.uniform(-60, 60, (64, 64)),
                    RNG.uniform(-60, 60, (64, 64))], axis=-1)
    lab[0, :6] = [[0, 0, 0], [100, 0, 0], [2, 5, -5], [50, 0, 0], [1, -1, 1], [5, 0, 0]]  # black, white, near black
    merged = color.merge_lab16(lab[..., 0].astype(np.float32), lab[..., 1:].astype(np.float32))
    assert merged.dtype == np.uint16 and merged.shape == (64, 64, 3)
    assert np.abs(merged - _lab_to_rgb16_float64(lab)).max() <= 2.0  # float32 and the encoding table


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_merged_rows_in_any_bands_equal_the_whole_merge(dtype, monkeypatch):
    grey = gradient_gray(75, 64, dtype)
    ab = RNG.uniform(-40, 40, (9, 7, 2)).astype(np.float32)
    L = color.full_lightness(grey)
    whole = color.merge_prediction(grey, L, ab)
    monkeypatch.setattr(color, "_BAND_PIXELS", 64 * 4)  # bands of 4 rows inside each call
    rows = color.merged_rows(grey, ab, None if dtype == np.uint16 else L)
    pieces = np.concatenate([rows(top, top + 11) for top in range(0, 75, 11)])
    assert np.array_equal(pieces, whole)
    assert np.array_equal(color.merge_prediction(grey, None, ab), whole)  # L from the pixels


def test_rgbx_rows_are_rgb_rows_padded():
    grey = gradient_gray(30, 40)
    ab = RNG.uniform(-40, 40, (5, 5, 2)).astype(np.float32)
    rgb = color.merged_rows(grey, ab)(0, 30)
    rgbx = color.merged_rows(grey, ab, channels=4)(0, 30)
    assert rgbx.shape == (30, 40, 4) and np.array_equal(rgbx[..., :3], rgb) and (rgbx[..., 3] == 255).all()
