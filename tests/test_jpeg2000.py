"""JPEG 2000: 8- and 16-bit round trips (lossless), grey and alpha read, folders of other files."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from colorcli.look import lab
from colorcli.cli import cli
from colorcli.errors import ImageError
from colorcli.io.images import ScanImage, read_image, write_image
from conftest import gradient_gray

RNG = np.random.default_rng(2000)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("ext", [".jp2", ".j2k", ".jpx"])
def test_round_trip_is_lossless(tmp_path, dtype, channels, ext):
    top = np.iinfo(dtype).max + 1
    rgb = RNG.integers(0, top, (37, 53, channels), dtype=dtype)
    path = tmp_path / f"scan{ext}"
    write_image(path, rgb, ScanImage(pixels=rgb[..., :3]))
    with Image.open(path) as img:
        assert img.format == "JPEG2000"
    back = read_image(path)
    assert back.pixels.dtype == dtype and back.bit_depth == (16 if dtype == np.uint16 else 8)
    assert np.array_equal(back.pixels, rgb[..., :3])
    assert (back.alpha is None) == (channels == 3)
    if channels == 4:
        assert np.array_equal(back.alpha, rgb[..., 3])
    assert not [p for p in tmp_path.iterdir() if p.name != path.name]  # the atomic writer left nothing


def test_grey_8_and_16_bit_and_grey_with_alpha_are_read(tmp_path):
    grey16 = gradient_gray(30, 40, np.uint16)
    Image.fromarray(grey16).save(tmp_path / "g16.jp2")
    assert np.array_equal(read_image(tmp_path / "g16.jp2").pixels, grey16)
    grey8 = gradient_gray(30, 40)
    Image.fromarray(grey8).save(tmp_path / "g8.j2k")
    assert np.array_equal(read_image(tmp_path / "g8.j2k").pixels, grey8)
    la = np.dstack([grey8, RNG.integers(0, 256, grey8.shape, dtype=np.uint8)])
    Image.fromarray(la, "LA").save(tmp_path / "la.jpf")
    scan = read_image(tmp_path / "la.jpf")
    assert np.array_equal(scan.pixels, grey8) and np.array_equal(scan.alpha, la[..., 1])


def _run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


def test_16bit_jp2_folder_colorized_to_16bit_jp2_keeping_L(tmp_path, tiny_model_path):
    scans = tmp_path / "scans"
    scans.mkdir()
    grey16 = gradient_gray(64, 96, np.uint16)
    Image.fromarray(grey16).save(scans / "master.jp2")
    code, _ = _run("colorize", scans, "--out", tmp_path / "out", "--model", tiny_model_path)
    out = read_image(tmp_path / "out" / "master.jp2")
    assert code == 0 and out.pixels.dtype == np.uint16 and out.pixels.shape == (64, 96, 3)
    # written losslessly: the same pixels as the 16-bit PNG of the same run, so the same L
    code, _ = _run("colorize", scans, "--out", tmp_path / "png", "--model", tiny_model_path, "--format", "png")
    png = read_image(tmp_path / "png" / "master.png").pixels
    assert code == 0 and np.array_equal(out.pixels, png)
    assert np.array_equal(lab.lightness16(out.pixels), lab.lightness16(png))


def test_mixed_folder_names_what_it_ignores(tmp_path, tiny_model_path):
    scans = tmp_path / "scans"
    (scans / "sub").mkdir(parents=True)
    Image.fromarray(gradient_gray()).save(scans / "a.png")
    for name in ("x.pdf", "y.pdf", "sub/z.pdf", "notes.txt"):
        (scans / name).write_text("not a picture")
    code, output = _run("colorize", scans, "--out", tmp_path / "out", "--model", tiny_model_path)
    assert code == 0 and "4 files ignored (not images colorcli reads): .pdf ×3, .txt ×1" in output
    report = json.loads((tmp_path / "out" / "colorcli-report.json").read_text())
    assert report["ignored"] == {".pdf": 3, ".txt": 1} and report["summary"]["ok"] == 1


def test_folder_without_images_is_an_error(tmp_path, tiny_model_path):
    scans = tmp_path / "texts"
    scans.mkdir()
    for index in range(3):
        (scans / f"page{index}.txt").write_text("text")
    code, output = _run("colorize", scans, "--out", tmp_path / "out", "--model", tiny_model_path)
    assert code == 2
    assert str(scans) in output and "no image colorcli reads" in output and ".txt ×3" in output
    assert not (tmp_path / "out").exists()


def test_grey_with_alpha_above_8_bits_is_refused_not_degraded(tmp_path):
    """Pillow would read it at 8 bits and OpenCV not at all; the header says 16 bits (patched here, as
    neither library writes such a file)."""
    la = np.dstack([gradient_gray(20, 30), np.full((20, 30), 200, np.uint8)])
    Image.fromarray(la, "LA").save(tmp_path / "la.jp2")
    data = bytearray((tmp_path / "la.jp2").read_bytes())
    siz = data.find(b"\xff\x4f\xff\x51")
    for component in range(2):
        data[siz + 4 + 38 + 3 * component] = 15  # Ssiz: 16 bits, unsigned
    (tmp_path / "la16.jp2").write_bytes(bytes(data))
    with pytest.raises(ImageError, match="16-bit grey with alpha JPEG 2000 is not supported"):
        read_image(tmp_path / "la16.jp2")
