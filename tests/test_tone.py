"""The grey / toned / colour decision on prints made here (toned, stained, inked, tinted) and on real files."""

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import color as skcolor

from colorcli.look import tone
from colorcli.io.images import read_image
from conftest import SHARED_DATA

RNG = np.random.default_rng(16)
H, W = 160, 240


def _photo_lightness() -> np.ndarray:
    """A grey 'photograph': soft shapes, edges and grain over the whole lightness range."""
    yy, xx = np.mgrid[0:H, 0:W] / np.array([H, W])[:, None, None]
    L = 55 + 30 * np.sin(6 * xx) * np.cos(4 * yy)
    L[40:110, 60:120] = 25 + 40 * yy[40:110, 60:120]  # a dark figure
    L[20:60, 150:220] = 85
    L += RNG.normal(0, 2.0, L.shape)
    return np.clip(L, 3, 97)


def _to_rgb(L, a, b) -> np.ndarray:
    return (np.clip(skcolor.lab2rgb(np.dstack([L, a, b])), 0, 1) * 255).round().astype(np.uint8)


def _toned(L, hue_deg, strength) -> tuple[np.ndarray, np.ndarray]:
    """A toner: chroma along one hue, strongest in the mid-tones, fading to the paper and to black."""
    chroma = strength * np.sin(np.pi * L / 100.0)
    return chroma * np.cos(np.radians(hue_deg)), chroma * np.sin(np.radians(hue_deg))


def _aged(L, a, b) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Yellowed vignette, a brown stain with a soft edge, and a caption in blue ink."""
    yy, xx = np.mgrid[0:H, 0:W]
    edge = np.minimum.reduce([xx, yy, W - 1 - xx, H - 1 - yy]) / 30.0
    yellow = 18 * np.clip(1 - edge, 0, 1) * (L / 100.0)
    a, b = a + yellow * np.cos(np.radians(85)), b + yellow * np.sin(np.radians(85))
    stain = np.exp(-(((xx - 70) / 30.0) ** 2 + ((yy - 120) / 22.0) ** 2)) * 16
    a, b = a + stain * np.cos(np.radians(60)), b + stain * np.sin(np.radians(60))
    L = L - stain * 0.4
    ink = np.zeros((H, W), np.uint8)
    cv2.putText(ink, "Paris 1899", (150, 150), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1, 1)
    ink = ink.astype(bool)
    L, a, b = L.copy(), a.copy(), b.copy()
    L[ink], a[ink], b[ink] = 35, 5, -30
    return L, a, b


SEPIA, BLUE_GREY = (65, 30), (255, 7)


@pytest.mark.parametrize("toner", [SEPIA, BLUE_GREY], ids=["sepia", "blue-grey"])
@pytest.mark.parametrize("aged", [False, True], ids=["clean", "vignette-stain-ink"])
def test_toned_prints_are_grey(toner, aged):
    L = _photo_lightness()
    a, b = _toned(L, *toner)
    if aged:
        L, a, b = _aged(L, a, b)
    decision = tone.classify(_to_rgb(L, a, b))
    assert decision.grey, decision.reason
    assert decision.kind in ("grey", "toned")
    if toner is SEPIA:
        assert decision.kind == "toned" and 40 <= decision.hue <= 100 and "toned monochrome, hue" in decision.reason


def test_grey_pixels_and_grey_rgb():
    L = _photo_lightness()
    grey = _to_rgb(L, 0 * L, 0 * L)
    assert tone.classify(grey[..., 0]).reason == "grey"
    assert tone.classify(grey) == tone.ToneDecision(True, "grey", "grey")
    assert tone.classify((grey.astype(np.uint16) * 257)).grey


def test_colour_photo_with_two_hues_is_colour():
    L = _photo_lightness()
    yy, xx = np.mgrid[0:H, 0:W]
    sky = yy < H // 2  # blue sky over orange ground, each with its own texture
    a = np.where(sky, -5 + RNG.normal(0, 3, L.shape), 30 + 10 * np.sin(xx / 7.0))
    b = np.where(sky, -35 + RNG.normal(0, 3, L.shape), 45 + 10 * np.cos(yy / 5.0))
    decision = tone.classify(_to_rgb(L, a, b))
    assert not decision.grey and decision.kind == "colour" and decision.reason.startswith("colour photograph")


def test_blue_sky_evenly_coloured_is_colour():
    """A blue that is a curve of lightness (so 'evenly toned') but strongest in the light tones: sky, not toner."""
    L = _photo_lightness()
    chroma = 30 * np.clip((L - 55) / 15, 0, 1)  # neutral darks, strong blue in everything light
    decision = tone.classify(_to_rgb(L, -5 * chroma / 30, -chroma))
    assert not decision.grey and "light and in colours no print tone has" in decision.reason, decision.reason


@pytest.mark.parametrize("dark_hue, light_hue, grey", [(50, 85, True), (100, 40, False)],
                         ids=["sepia-yellower-where-lighter", "warm-photo-redder-where-lighter"])
def test_hue_must_turn_towards_yellow_as_the_print_gets_lighter(dark_hue, light_hue, grey):
    """Stained and inked alike: sepia turning to yellow paper is a print; olive shadows under orange lights are
    a photograph. An even tone is not asked this (an evenly toned print may turn either way)."""
    L = _photo_lightness()
    hue = np.radians(dark_hue + (light_hue - dark_hue) * L / 100.0)
    chroma = 25 * np.sin(np.pi * L / 100.0)
    even = tone.classify(_to_rgb(L, chroma * np.cos(hue), chroma * np.sin(hue)))
    assert even.grey and even.kind == "toned", even.reason
    decision = tone.classify(_to_rgb(*_aged(L, chroma * np.cos(hue), chroma * np.sin(hue))))
    assert decision.grey is grey, decision.reason
    if not grey:
        assert "redder where lighter" in decision.reason


def _evidence(rgb: np.ndarray):
    lab = cv2.cvtColor(tone._thumbnail(rgb), cv2.COLOR_RGB2Lab)
    return tone._Evidence(lab[..., 0], lab[..., 1:], np.hypot(lab[..., 1], lab[..., 2]))


def test_warm_print_redder_through_its_darks_is_grey():
    """Olive blacks under a red-brown toner that builds up through the dark tones, steady from the middle
    up, stained and inked: 6° redder where lighter, which the rule before issue 28 took for colour; but not
    in its lighter half, and its colour follows its lightness locally."""
    L = _photo_lightness()
    hue = np.radians(120 - 60 * np.clip((L - 10) / 40, 0, 1))
    chroma = 25 * np.sin(np.pi * L / 100.0)
    print_ = _to_rgb(*_aged(L, chroma * np.cos(hue), chroma * np.sin(hue)))
    evidence = _evidence(print_)
    assert evidence.hue_turn < -5 and evidence.even_residual > 4
    decision = tone.classify(print_)
    assert decision.grey and decision.kind == "toned", decision.reason


def test_warm_photo_whose_things_are_redder_than_its_plants_is_colour():
    """Orange sand over olive plants, each of one hue whatever its lightness, stained and inked: redder where
    lighter across the picture, and in its lighter half."""
    yy, xx = np.mgrid[0:H, 0:W]
    sand = (np.sin(xx / 23.0) + np.cos(yy / 17.0)) > 0.3
    L = np.where(sand, 55, 32) + 10 * np.sin(xx / 5.0) * np.cos(yy / 7.0) + RNG.normal(0, 2, (H, W))
    hue, chroma = np.radians(np.where(sand, 60.0, 95.0)), np.where(sand, 22.0, 14.0)
    decision = tone.classify(_to_rgb(*_aged(L, chroma * np.cos(hue), chroma * np.sin(hue))))
    assert not decision.grey and "redder where lighter" in decision.reason, decision.reason


def test_hand_tinted_print_is_colour():
    L = _photo_lightness()
    a, b = np.zeros_like(L), np.zeros_like(L)
    a[40:110, 60:120], b[40:110, 60:120] = 45, 25  # a red dress
    a[120:160, :], b[120:160, :] = -35, 30  # green grass
    decision = tone.classify(_to_rgb(L, a, b))
    assert not decision.grey, decision.reason


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def test_every_archive_print_is_grey():
    """Every print in the shared archive, toned, stained and mounted ones included, however many it holds."""
    files = _files(SHARED_DATA / "archive")
    assert len(files) >= 49 and {"toned", "mounted"} <= {p.parent.name for p in files}, \
        f"shared data missing: {SHARED_DATA / 'archive'}"
    colour = [(p.name, d.reason) for p in files if not (d := tone.classify(read_image(p).pixels)).grey]
    assert not colour


@pytest.mark.parametrize("long_side, quality", [(500, 70), (400, 90), (300, 70), (200, 90)])
def test_a_warm_print_that_turns_redder_where_lighter_stays_a_print_as_a_small_jpeg(long_side, quality):
    """The shared print whose hue turns redder as it gets lighter (6 degrees), saved smaller as a JPEG, whose
    colour is then kept at half size: its redness must still be found to follow its lightness locally
    (each of these was taken for a colour photograph before the comparison was made at the colour's detail)."""
    import io

    from PIL import Image

    pixels = read_image(SHARED_DATA / "archive" / "ArkansasCowboys1880s.jpg").pixels
    height, width = pixels.shape[:2]
    scale = long_side / max(height, width)
    small = cv2.resize(pixels, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    saved = io.BytesIO()
    Image.fromarray(small).save(saved, "JPEG", quality=quality)
    decision = tone.classify(np.asarray(Image.open(io.BytesIO(saved.getvalue())).convert("RGB")))
    assert decision.grey and decision.kind == "toned", decision.reason


def _split_toned(L: np.ndarray, cool_chroma: float, warm_chroma: float, silvering: np.ndarray) -> np.ndarray:
    """A split-toned print: warm (hue 75) highlights, blue-grey (hue 250) shadows, blended through the middle
    tones, and the shadows' blue made patchy by silvering (`silvering`: a smooth factor field)."""
    warm = np.clip((L - 25.0) / 45.0, 0.0, 1.0)
    warm = warm * warm * (3.0 - 2.0 * warm)
    cool = (1.0 - warm) * cool_chroma * np.clip((L + 5.0) / 30.0, 0.0, 1.0) * np.where(warm < 0.5, silvering, 1.0)
    a = warm * warm_chroma * np.cos(np.radians(75)) + cool * np.cos(np.radians(250))
    b = warm * warm_chroma * np.sin(np.radians(75)) + cool * np.sin(np.radians(250))
    return _to_rgb(L, a, b)


@pytest.mark.parametrize("name", ["1860Girls.jpg", "toned/1880Paris.jpg", "MadisonSquare1900.jpg", "toned/ViennaBoys1880s.jpg",
                                  "1896NewsBoyGirl.jpg"])
def test_split_toned_print_with_silvered_shadows_is_grey(name):
    """Blue-grey shadows (chroma 12, patchy with silvering) under warm highlights (chroma 20) are the print's
    own tones: each of these shared prints, split-toned so, was taken for colour ("in colours no print tone
    has") before the shadows' cool tone was allowed for."""
    pixels = read_image(SHARED_DATA / "archive" / name).pixels
    L = cv2.cvtColor(cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    L = skcolor.rgb2lab(L)[..., 0]
    silvering = cv2.resize(np.random.default_rng(3).uniform(0.3, 1.7, (6, 6)), L.shape[::-1],
                           interpolation=cv2.INTER_CUBIC)
    saved = io.BytesIO()
    Image.fromarray(_split_toned(L, 12.0, 20.0, silvering)).save(saved, "JPEG", quality=90)
    decision = tone.classify(np.asarray(Image.open(io.BytesIO(saved.getvalue())).convert("RGB")))
    assert decision.grey and decision.kind == "toned", decision.reason


def test_picture_cool_throughout_is_still_colour():
    """A blue cast in the shadows and the light tones alike (dusk, shade, a cool white balance) with blue things
    in it is no split tone: the cool shadows are only allowed for under warm or neutral highlights."""
    L = _photo_lightness()
    yy, xx = np.mgrid[0:H, 0:W]
    a = -4 + 6 * np.sin(xx / 9.0)
    b = -14 - 8 * np.cos(yy / 7.0)
    decision = tone.classify(_to_rgb(L, a, b))
    assert not decision.grey and decision.kind == "colour", decision.reason


def test_most_colour_photographs_stay_colour():
    """BSDS500 (train 400 + val 100): at most 16 taken for grey, issue 16's bar (measured: 15 of 500; 14
    before the local comparison was made at the colour's detail (issue 37); 35
    before the light-tone, faint-colour and hue-turn checks; 15 with the check before issue 16 and before
    issue 28's, which also asks evenly toned pictures and lets one more through)."""
    files = _files(SHARED_DATA / "photos" / "train" / "bsds500") + _files(SHARED_DATA / "photos" / "val" / "bsds500")
    assert len(files) == 500, "shared data missing"
    grey = sum(tone.classify(read_image(p).pixels).grey for p in files)
    assert grey <= 16


def test_report_and_screen_give_the_reason(tmp_path, tiny_model_path):
    from click.testing import CliRunner
    from PIL import Image

    from colorcli.cli import cli

    scans = tmp_path / "scans"
    scans.mkdir()
    L = _photo_lightness()
    Image.fromarray(_to_rgb(*_aged(L, *_toned(L, *SEPIA)))).save(scans / "sepia.png")
    yy = np.mgrid[0:H, 0:W][0]
    a, b = np.where(yy < H // 2, -40.0, 45.0), np.where(yy < H // 2, 35.0, 30.0)  # green over red
    Image.fromarray(_to_rgb(L, a, b)).save(scans / "colour.png")
    result = CliRunner().invoke(cli, ["colorize", str(scans), "--out", str(tmp_path / "out"),
                                      "--model", str(tiny_model_path)], catch_exceptions=False)
    report = json.loads((tmp_path / "out" / "colorcli-report.json").read_text())
    records = {Path(r["input"]).name: r for r in report["files"]}
    assert result.exit_code == 0
    assert records["sepia.png"]["status"] == "ok" and records["sepia.png"]["tone"].startswith("toned monochrome, hue")
    skipped = records["colour.png"]
    assert skipped["status"] == "skipped" and skipped["reason"].startswith("colour photograph")
    screen = " ".join(result.output.split())  # the console wraps long lines
    assert skipped["reason"].endswith("(use --include-color)") and skipped["reason"] in screen
    assert records["sepia.png"]["tone"] in screen
