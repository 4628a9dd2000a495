"""Mounted prints: the print found on its card or album page, the grey decision on the print alone, the
print colorized and the card's pixels kept as scanned. On synthetic cabinet cards and album pages made
from the shared colour photos (made monochrome and toned; see tests/mounts.py)."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import mounts
from colorcli.look import lab as color
from colorcli.look import mount_find
from colorcli.look import mount_colorize
from colorcli.look import tone
from colorcli.cli import cli
from colorcli.io.images import ScanImage, read_image, write_image
from conftest import SHARED_DATA

PHOTOS = SHARED_DATA / "photos"


def photo(name: str) -> np.ndarray:
    return read_image(PHOTOS / name).pixels


def iou(p: mount_find.Print, coverage: np.ndarray) -> float:
    mine = p.depth(0, coverage.shape[0], 0, coverage.shape[1]) > 0
    truth = coverage >= 0.5
    return float((mine & truth).sum() / (mine | truth).sum())


def touched(found: mount_find.Mount, shape) -> np.ndarray:
    """Pixels that take any of a print's colours."""
    out = np.zeros(shape[:2], bool)
    for p in found.prints:
        out |= mount_colorize.weight(p, 0, shape[0], 0, shape[1]) > 0
    return out


# every card colour, both inks and none, rounded corners, bevelled edges, off centre, turned up to 2 degrees
CARDS = [
    ("val/bsds500/101085.jpg", dict(card="cream", ink="gold", tone="sepia")),
    ("val/bsds500/103070.jpg", dict(card="grey", ink="red", tone="grey", rounded=True, offset=(0.03, -0.02))),
    ("val/bsds500/108082.jpg", dict(card="black", ink="gold", tone="selenium", bevel=True, angle=1.5)),
    ("val/bsds500/14037.jpg", dict(card="maroon", ink="red", tone="sepia", rounded=True, bevel=True,
                                   offset=(0.02, 0.02), angle=-2.0)),
    ("val/bsds500/148089.jpg", dict(card="cream", ink="red", tone="grey", rounded=True, bevel=True,
                                    offset=(-0.03, 0.0), angle=0.8, width=600)),
    ("val/bsds500/12084.jpg", dict(card="maroon", ink="gold", tone="grey", angle=2.0, width=300)),
    ("val/bsds500/167083.jpg", dict(card="grey", ink="gold", tone="selenium", bevel=True, offset=(0.01, 0.02),
                                    angle=-0.5)),
    ("val/bsds500/145086.jpg", dict(card="black", ink="red", tone="sepia", rounded=True, offset=(0.0, -0.02),
                                    angle=-1.2)),
]


@pytest.mark.parametrize("name, layout", CARDS,
                         ids=[f"{layout['card']}-{layout.get('ink')}-{i}" for i, (_, layout) in enumerate(CARDS)])
def test_print_found_on_its_card_and_decided_alone(name, layout):
    card = mounts.cabinet_card(photo(name), **layout)
    found = mount_find.find(card.scan)
    assert len(found.prints) == 1, found.reason
    p = found.prints[0]
    assert iou(p, card.coverage[0]) > 0.98
    assert not touched(found, card.scan.shape)[card.card].any()
    report = found.report(card.scan.shape)
    assert report["print"] == list(p.bounds(card.scan.shape)) and "prints" not in report
    assert np.abs(np.array(report["print"]) - np.array(card.box())).max() <= 3
    assert abs(p.angle - layout.get("angle", 0.0)) < 0.3
    assert report["mount"].startswith("print on a card or page")
    decision = mount_colorize.decide(card.scan, found)
    assert decision.tone.grey and decision.prints == found.prints, decision.tone.reason


def test_imprint_and_card_no_longer_make_the_scan_colour():
    """The whole scan of a toned print on a grey-green card with a red imprint is taken for a colour
    photograph; the print alone is a toned monochrome print."""
    card = mounts.cabinet_card(photo("val/bsds500/101085.jpg"), card="grey", ink="red", tone="sepia")
    assert not tone.classify(card.scan).grey
    decision = mount_colorize.decide(card.scan, mount_find.find(card.scan))
    assert decision.tone.grey and decision.tone.kind == "toned", decision.tone.reason


def test_photos_never_seen_while_tuning():
    """48 cabinet cards from ImageNet photos (the detector was tuned on BSDS500 val): a print found is
    always the right one and never reaches the card; most are found (black cards under dark prints are
    the misses: the print's shadows have the card's colour)."""
    files = sorted((PHOTOS / "train" / "imagenet").glob("*.jpg"))[5::18][:48]
    rng = np.random.default_rng(28)
    found_count = 0
    for i, path in enumerate(files):
        layout = dict(card=list(mounts.CARDS)[i % 4], ink=["gold", "red", None][i % 3],
                      tone=["sepia", "grey", "selenium"][i % 3], rounded=i % 2 == 0, bevel=i % 3 == 1,
                      offset=(rng.uniform(-0.03, 0.03), rng.uniform(-0.02, 0.02)),
                      angle=float(rng.uniform(-2, 2)) if i % 2 else 0.0, width=int(rng.choice([300, 420])), seed=i)
        card = mounts.cabinet_card(read_image(path).pixels, **layout)
        found = mount_find.find(card.scan)
        if not found.prints:
            continue
        found_count += 1
        assert len(found.prints) == 1 and iou(found.prints[0], card.coverage[0]) > 0.95, path.name
        assert not touched(found, card.scan.shape)[card.card].any(), path.name
    assert found_count >= 0.85 * len(files)


@pytest.mark.parametrize("count, page, seed", [(2, "black", 0), (3, "cream", 5), (4, "grey", 2)])
def test_album_page_each_print_found(count, page, seed):
    photos = [photo(p.relative_to(PHOTOS).as_posix())
              for p in sorted((PHOTOS / "val" / "bsds500").glob("*.jpg"))[30 + 3 * seed:30 + 3 * seed + count]]
    album = mounts.album_page(photos, page=page, width=[480, 640, 900][seed % 3], seed=seed)
    found = mount_find.find(album.scan)
    assert len(found.prints) == count, found.reason
    for coverage in album.coverage:
        assert max(iou(p, coverage) for p in found.prints) > 0.97
    assert not touched(found, album.scan.shape)[album.card].any()
    report = found.report(album.scan.shape)
    assert report["print"] is None and len(report["prints"]) == count
    assert report["mount"] == f"{count} prints on an album page, each decided and colorized on its own"


def test_album_page_not_each_found_is_one_picture():
    """A print whose dark foot runs into a black page has no bottom edge to see: the page is then taken as
    one picture, and the report says there are several."""
    files = sorted((PHOTOS / "val" / "bsds500").glob("*.jpg"))[62:66]
    photos = [photo(p.relative_to(PHOTOS).as_posix()) for p in files]
    album = mounts.album_page(photos, page="black", width=640, seed=8)
    found = mount_find.find(album.scan)
    assert found.several and not found.prints
    assert found.reason.startswith("several pictures on the page") and "taken as one picture" in found.reason
    assert found.report(album.scan.shape) == {"print": None, "mount": found.reason, "mount_confidence": None}


def test_archive_prints_stay_grey_decided_as_colorize_does():
    """Every shared archive print (two of them found inside a border of their own, three real ones on their
    cards, the orange-toned one) stays grey: however many the folder holds."""
    files = sorted(p for p in (SHARED_DATA / "archive").rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    assert len(files) >= 49 and {"toned", "mounted"} <= {p.parent.name for p in files}
    colour = []
    for path in files:
        pixels = read_image(path).pixels
        decision = mount_colorize.decide(pixels, mount_find.find(pixels)).tone
        if not decision.grey:
            colour.append((path.name, decision.reason))
    assert not colour


def test_plain_photos_have_no_mount():
    """Of the 100 BSDS500 validation photos (no borders), none is taken for a print on a mount."""
    files = sorted((PHOTOS / "val" / "bsds500").glob("*.jpg"))
    assert len(files) == 100
    mounted_ones = [p.name for p in files if mount_find.find(read_image(p).pixels).prints]
    assert not mounted_ones


@pytest.mark.parametrize("dtype, grey, channels", [(np.uint8, False, 3), (np.uint8, False, 4), (np.uint16, False, 3),
                                                   (np.uint8, True, 3), (np.uint16, True, 3)],
                         ids=["rgb8", "rgbx8", "rgb16", "grey8", "grey16"])
def test_laid_over_the_scan_exactly(dtype, grey, channels):
    """The output is the scan (as RGB or RGBX at its depth) outside the print and on its outermost pixels,
    the colorized print inside, and between the two (a few pixels) a mix of them."""
    card = mounts.cabinet_card(photo("val/bsds500/101085.jpg"), card="maroon", angle=1.2, width=300)
    scan = card.scan
    if grey:
        scan = cv2.cvtColor(scan, cv2.COLOR_RGB2GRAY)
    if dtype == np.uint16:
        scan = scan.astype(np.uint16) * 257 + np.uint16(100)
    found = mount_find.find(scan)
    assert len(found.prints) == 1, found.reason
    pieces = mount_colorize.split_for_model(scan, found.prints, 32)
    ab = [np.dstack([np.full((32, 32), 35.0, np.float32), np.full((32, 32), -20.0, np.float32)])]
    out = mount_colorize.merged_rows(scan, pieces, ab, channels=channels)(0, scan.shape[0])
    assert out.dtype == dtype and out.shape == scan.shape[:2] + (channels,)
    own = mount_colorize.scan_rows(scan, channels)
    x, y, w, h = pieces[0].box
    colour = np.array(own)
    colour[y:y + h, x:x + w] = color.merged_rows_from_model(pieces[0].pixels, ab[0], 1, pieces[0].L, channels)(0, h)
    weight = mount_colorize.weight(found.prints[0], 0, scan.shape[0], 0, scan.shape[1])
    assert np.array_equal(out[weight == 0], own[weight == 0])
    assert np.array_equal(out[weight == 1], colour[weight == 1])
    edge = (weight > 0) & (weight < 1)
    assert edge.any() and (weight > 0).sum() > 0.9 * (card.coverage[0] == 1).sum()
    low, high = np.minimum(own, colour)[edge].astype(int), np.maximum(own, colour)[edge].astype(int)
    assert np.all(out[edge] >= low - 1) and np.all(out[edge] <= high + 1)
    assert np.all(out[card.card] == own[card.card])


def _write_cards(folder: Path) -> dict[str, np.ndarray]:
    """The same cabinet card in every output format and depth colorize keeps; returns each one's coverage."""
    card = mounts.cabinet_card(photo("val/bsds500/103070.jpg"), card="maroon", ink="gold", angle=0.7, width=300)
    rgb16 = card.scan.astype(np.uint16) * 257
    grey = cv2.cvtColor(card.scan, cv2.COLOR_RGB2GRAY)
    alpha = np.full(card.scan.shape[:2], 255, np.uint8)
    alpha[:10] = 0
    files = {"card8.png": card.scan, "card16.png": rgb16, "card16.tif": rgb16, "card8.jp2": card.scan,
             "card16.jp2": rgb16, "grey8.png": grey, "alpha.png": np.dstack([card.scan, alpha]),
             "card.jpg": card.scan}
    folder.mkdir()
    for name, pixels in files.items():
        if pixels.ndim == 2:
            Image.fromarray(pixels).save(folder / name)
        else:
            write_image(folder / name, pixels, ScanImage(pixels=pixels[..., :3]))
    return card.coverage[0]


def _chroma(rgb: np.ndarray) -> np.ndarray:
    lab = color.rgb_to_lab(rgb if rgb.ndim == 3 else np.dstack([rgb] * 3))
    return np.hypot(lab[..., 1], lab[..., 2])


def test_colorize_keeps_the_card_as_scanned(tmp_path, tiny_model_path):
    coverage = _write_cards(tmp_path / "scans")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["colorize", str(tmp_path / "scans"), "--out", str(out), "--model",
                                      str(tiny_model_path), "--workers", "1"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "colorcli-report.json").read_text())
    assert report["options"]["mount"] == "auto"
    card_pixels, inside = coverage == 0, cv2.erode((coverage == 1).astype(np.uint8), np.ones((9, 9))) > 0
    far = cv2.erode(card_pixels.astype(np.uint8), np.ones((17, 17))) > 0
    for record in report["files"]:
        name = Path(record["input"]).name
        assert record["status"] == "ok" and record["print"] is not None, (name, record)
        assert record["mount"].startswith("print on a card or page")
        before, after = read_image(record["input"]), read_image(out / record["output"])
        assert after.pixels.dtype == before.pixels.dtype and after.pixels.ndim == 3, name
        own = mount_colorize.scan_rows(before.pixels, 3)
        if name.endswith(".jpg"):  # the card differs by the JPEG encoding only
            assert np.abs(after.pixels.astype(int) - own)[far].mean() < 1.0, name
        else:
            assert np.array_equal(after.pixels[card_pixels], own[card_pixels]), name
        assert _chroma(after.pixels)[inside].mean() > _chroma(before.pixels)[inside].mean() + 10, name
        if before.alpha is not None:
            assert np.array_equal(after.alpha, before.alpha)


def test_mount_off_takes_the_scan_as_one_picture(tmp_path, tiny_model_path):
    card = mounts.cabinet_card(photo("val/bsds500/101085.jpg"), card="cream", ink="gold", width=300)
    (tmp_path / "scans").mkdir()
    write_image(tmp_path / "scans" / "card.png", card.scan, ScanImage(pixels=card.scan))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["colorize", str(tmp_path / "scans"), "--out", str(out), "--model",
                                      str(tiny_model_path), "--mount", "off"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (record,) = json.loads((out / "colorcli-report.json").read_text())["files"]
    assert record["print"] is None and record["mount"] == "not looked for (--mount off)"
    after = read_image(out / "card.png").pixels
    assert (after[card.card] != card.scan[card.card]).any(axis=1).mean() > 0.5  # the card was colorized too


def test_plain_scan_reports_no_mount(tmp_path, tiny_model_path):
    (tmp_path / "scans").mkdir()
    grey = cv2.cvtColor(photo("val/bsds500/101085.jpg"), cv2.COLOR_RGB2GRAY)
    Image.fromarray(grey).save(tmp_path / "scans" / "plain.png")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["colorize", str(tmp_path / "scans"), "--out", str(out), "--model",
                                      str(tiny_model_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (record,) = json.loads((out / "colorcli-report.json").read_text())["files"]
    assert record["print"] is None and record["mount"].startswith("no mount")


REAL_CARDS = ("FreeportIL.jpg", "civil_war.jpg", "WalkingLibraryLondon1930.jpg")


@pytest.mark.parametrize("name", REAL_CARDS)
def test_real_prints_on_their_cards_are_found_and_the_card_kept(name):
    """The three real mounts of the shared archive (a cream card with pencil marks, a card toned like its
    print, a pale mount), whose cards show as narrow margins: each print is found, surely, with a margin
    of card all round, and colorizing it leaves the card's pixels as scanned."""
    scan = read_image(SHARED_DATA / "archive" / "mounted" / name).pixels
    found = mount_find.find(scan)
    assert len(found.prints) == 1, found.reason
    assert found.confidence is not None and found.confidence >= mount_find._SURE
    height, width = scan.shape[:2]
    x, y, w, h = found.prints[0].bounds(scan.shape)
    assert 0 < x and 0 < y and x + w < width and y + h < height  # card on every side
    assert 0.85 < w * h / (width * height) < 0.99
    report = found.report(scan.shape)
    assert report["print"] == [x, y, w, h] and report["mount_confidence"] == round(found.confidence, 2)
    assert mount_colorize.decide(scan, found).tone.grey
    pieces = mount_colorize.split_for_model(scan, found.prints, 32)
    ab = [np.dstack([np.full((32, 32), 30.0, np.float32), np.full((32, 32), 25.0, np.float32)])]
    out = mount_colorize.merged_rows(scan, pieces, ab, channels=3)(0, height)
    card = np.ones((height, width), bool)
    card[y:y + h, x:x + w] = False
    assert np.array_equal(out[card], mount_colorize.scan_rows(scan, 3)[card])
    assert _chroma(out[y + h // 4: y + 3 * h // 4, x + w // 4: x + 3 * w // 4]).mean() > 20


def test_a_narrow_margin_is_not_looked_for_on_a_colour_photograph():
    """The narrow-margin search runs on monochrome scans only: a colour photo inside a plain white
    border keeps no print box, while the same picture made grey has one."""
    picture = cv2.resize(photo("val/bsds500/101085.jpg"), (360, 240), interpolation=cv2.INTER_AREA)
    framed = cv2.copyMakeBorder(picture, 8, 8, 8, 8, cv2.BORDER_CONSTANT, value=(236, 232, 224))
    assert not mount_find.find(framed).prints
    grey = np.dstack([cv2.cvtColor(framed, cv2.COLOR_RGB2GRAY)] * 3)
    (found,) = mount_find.find(grey).prints
    x, y, w, h = found.bounds(grey.shape)
    assert abs(x - 8) <= 2 and abs(y - 8) <= 2 and abs(w - 360) <= 4 and abs(h - 240) <= 4


def test_a_colour_photo_skipped_reports_no_print_box(tmp_path, tiny_model_path):
    """A colour picture on a plain white page (a product shot) may look like a print on a card; it is
    skipped as colour, and the report gives it no print box."""
    page = np.full((300, 400, 3), 250, np.uint8)
    page[50:250, 60:340] = cv2.resize(photo("val/bsds500/101085.jpg"), (280, 200), interpolation=cv2.INTER_AREA)
    assert mount_find.find(page).prints  # the search alone takes it for a print on a page
    (tmp_path / "scans").mkdir()
    Image.fromarray(page).save(tmp_path / "scans" / "product.png")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["colorize", str(tmp_path / "scans"), "--out", str(out), "--model",
                                      str(tiny_model_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (record,) = json.loads((out / "colorcli-report.json").read_text())["files"]
    assert record["status"] == "skipped" and record["print"] is None and "prints" not in record
    assert record["mount"].startswith("not used (print on a card or page")
