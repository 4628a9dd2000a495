"""Reading every mode a scan can have; writing back depth, alpha and metadata; atomic writes."""

import io

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms

from colorcli.io import images
from colorcli.errors import ImageError
from colorcli.io.orientation import to_upright
from conftest import gradient_gray

GREY = gradient_gray(40, 56)


def _rgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _exif(orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Test Camera Maker"
    return exif.tobytes()


def _xmp() -> bytes:
    return (b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""'
            b' xmlns:dc="http://purl.org/dc/elements/1.1/" dc:format="image/x-test"/></rdf:RDF></x:xmpmeta>'
            b'<?xpacket end="w"?>')


def make_scans(folder):
    """One file per mode a scan can have; returns {name: expected (H, W)}."""
    folder.mkdir(parents=True, exist_ok=True)
    grey = Image.fromarray(GREY)
    grey.convert("1").save(folder / "bilevel.png")
    grey.save(folder / "grey.png")
    grey.save(folder / "grey.jpg", quality=95)
    Image.merge("LA", [grey, Image.fromarray(np.full_like(GREY, 128))]).save(folder / "grey_alpha.png")
    grey.convert("P").save(folder / "palette.gif")
    palette = grey.convert("P")
    palette.info["transparency"] = 0
    palette.save(folder / "palette_transparent.png", transparency=0)
    grey.convert("RGB").save(folder / "rgb_grey.jpg", quality=95)
    grey.convert("RGBA").save(folder / "rgba.png")
    grey.convert("CMYK").save(folder / "cmyk.jpg")
    grey.save(folder / "grey.webp", lossless=True)
    grey.save(folder / "grey.bmp")
    grey.save(folder / "grey.tif")
    grey16 = gradient_gray(40, 56, np.uint16)
    Image.fromarray(grey16).save(folder / "grey16.png")
    tifffile.imwrite(folder / "grey16.tif", grey16)
    return {p.name: (40, 56) for p in folder.iterdir()}


def test_every_mode_reads(tmp_path):
    expected = make_scans(tmp_path)
    for name, shape in expected.items():
        image = images.read_image(tmp_path / name)
        assert image.pixels.shape[:2] == shape, name
        assert image.pixels.dtype == (np.uint16 if "16" in name else np.uint8), name
        if name in ("grey_alpha.png", "rgba.png", "palette_transparent.png"):
            assert image.alpha is not None and image.alpha.shape == shape, name
        else:
            assert image.alpha is None, name
    assert np.array_equal(images.read_image(tmp_path / "grey16.png").pixels, gradient_gray(40, 56, np.uint16))
    assert np.array_equal(images.read_image(tmp_path / "grey16.tif").pixels, gradient_gray(40, 56, np.uint16))
    assert np.array_equal(images.read_image(tmp_path / "grey.png").pixels, GREY)


def test_16bit_rgb_png_and_tiff_round_trip_with_metadata(tmp_path):
    rgb16 = np.random.default_rng(1).integers(0, 65536, (30, 20, 3), dtype=np.uint16)
    alpha16 = np.full((30, 20), 40000, np.uint16)
    meta = images.ScanImage(pixels=rgb16, icc_profile=_rgb_profile(), dpi=(600.0, 600.0), exif=_exif(), xmp=_xmp())
    for name in ("out16.png", "out16.tif"):
        images.write_image(tmp_path / name, images.with_alpha(rgb16, alpha16), meta)
        back = images.read_image(tmp_path / name)
        assert back.pixels.dtype == np.uint16 and np.array_equal(back.pixels, rgb16), name
        assert np.array_equal(back.alpha, alpha16), name
        assert back.icc_profile == meta.icc_profile, name
        assert back.dpi and round(back.dpi[0]) == 600, name
        assert back.xmp == meta.xmp, name
    assert images.read_image(tmp_path / "out16.png").exif is not None


@pytest.mark.parametrize("name", ["meta.jpg", "meta.png", "meta.tif", "meta.webp"])
def test_8bit_metadata_kept(tmp_path, name):
    source = images.ScanImage(pixels=GREY, icc_profile=_rgb_profile(), dpi=(300.0, 300.0), exif=_exif(6), xmp=_xmp())
    rgb = np.repeat(GREY[..., None], 3, axis=2)
    images.write_image(tmp_path / name, rgb, source)
    back = images.read_image(tmp_path / name)
    # what a viewer shows is the same (Pillow hands TIFF pixels over already turned upright)
    shown = to_upright(back.pixels, back.orientation)
    tolerance = 8 if name in ("meta.jpg", "meta.webp") else 0  # lossy formats
    assert np.abs(shown.astype(int) - to_upright(rgb, 6)).max() <= tolerance
    assert shown.shape == (56, 40, 3)
    assert back.icc_profile == source.icc_profile and back.xmp == source.xmp
    with Image.open(tmp_path / name) as img:
        assert img.getexif().get(0x010F) == "Test Camera Maker"
    if name != "meta.webp":  # WebP has no resolution field
        assert round(back.dpi[0]) == 300


def test_grey_icc_profile_is_not_put_on_rgb_output(tmp_path):
    grey_profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()  # not RGB
    source = images.ScanImage(pixels=GREY, icc_profile=grey_profile)
    images.write_image(tmp_path / "x.png", np.repeat(GREY[..., None], 3, axis=2), source)
    assert images.read_image(tmp_path / "x.png").icc_profile is None


def test_corrupt_and_truncated_files_raise_image_error_naming_the_file(tmp_path):
    (tmp_path / "text.jpg").write_text("not an image")
    buffer = io.BytesIO()
    Image.fromarray(GREY).save(buffer, format="JPEG")
    (tmp_path / "truncated.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    for name in ("text.jpg", "truncated.jpg", "missing.png"):
        with pytest.raises(ImageError) as error:
            images.read_image(tmp_path / name)
        assert name in str(error.value) and "\n" not in str(error.value)


def test_write_is_atomic_when_encoding_fails_midway(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    target.write_bytes(b"previous complete file")

    def failing_encoder(handle, rgb, image, fmt):
        handle.write(b"\x89PNG half of the bytes")
        raise OSError("disk full")

    monkeypatch.setattr(images, "encode_to", failing_encoder)
    with pytest.raises(ImageError, match="disk full"):
        images.write_image(target, np.zeros((4, 4, 3), np.uint8), images.ScanImage(pixels=GREY))
    assert target.read_bytes() == b"previous complete file"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_output_extension():
    from pathlib import Path

    from colorcli.io.formats import output_extension

    assert output_extension(Path("a/b.JPG"), "keep") == ".JPG"
    assert output_extension(Path("a/b.gif"), "keep") == ".png"
    assert output_extension(Path("a/b.tif"), "jpg") == ".jpg"


def test_written_files_get_ordinary_permissions(tmp_path):
    import os

    images.write_image(tmp_path / "p.png", np.zeros((4, 4, 3), np.uint8), images.ScanImage(pixels=GREY))
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "p.png").stat().st_mode & 0o777 == 0o666 & ~mask


def test_16bit_tiff_is_written_in_bands_like_tifffile_writes_it_whole(tmp_path, monkeypatch):
    rgb16 = np.random.default_rng(3).integers(0, 65536, (50, 37, 3), dtype=np.uint16)
    meta = images.ScanImage(pixels=rgb16[..., 0], icc_profile=_rgb_profile(), dpi=(600.0, 600.0), orientation=6)
    monkeypatch.setattr(images, "_TIFF_STRIP_BYTES", 37 * 3 * 2 * 4)  # 4 rows a strip
    monkeypatch.setattr(images, "_TIFF_BAND_BYTES", 37 * 3 * 2 * 9)  # 8 rows a band: 2 strips
    calls = []
    images.write_rows(tmp_path / "banded.tif", rgb16.shape, np.uint16,
                       lambda top, bottom: calls.append((top, bottom)) or rgb16[top:bottom], meta)
    assert calls[:2] == [(0, 8), (8, 16)] and calls[-1] == (48, 50)
    tifffile.imwrite(tmp_path / "whole.tif", rgb16, photometric="rgb", compression="zlib", rowsperstrip=4)
    with tifffile.TiffFile(tmp_path / "banded.tif") as banded, tifffile.TiffFile(tmp_path / "whole.tif") as whole:
        page, reference = banded.pages[0], whole.pages[0]
        assert np.array_equal(page.asarray(), rgb16)
        assert page.compression == reference.compression and page.rowsperstrip == 4
        assert [len(s) for s in _strips(page)] == [len(s) for s in _strips(reference)]
    back = images.read_image(tmp_path / "banded.tif")
    assert back.icc_profile == meta.icc_profile and back.dpi == (600.0, 600.0) and back.orientation == 6


def _strips(page) -> list[bytes]:
    handle = page.parent.filehandle
    chunks = []
    for offset, count in zip(page.dataoffsets, page.databytecounts):
        handle.seek(offset)
        chunks.append(handle.read(count))
    return chunks


def test_jpeg_from_rgbx_is_the_jpeg_from_rgb_with_its_metadata(tmp_path):
    rgb = np.random.default_rng(4).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    meta = images.ScanImage(pixels=rgb[..., 0], exif=_exif(3), icc_profile=_rgb_profile(), dpi=(300.0, 300.0))
    rgbx = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    images.write_image(tmp_path / "rgbx.jpg", rgbx, meta)
    expected = io.BytesIO()
    Image.fromarray(rgb).save(expected, format="JPEG", quality=95, exif=meta.exif, icc_profile=meta.icc_profile,
                              dpi=meta.dpi)
    assert (tmp_path / "rgbx.jpg").read_bytes() == expected.getvalue()
    back = images.read_image(tmp_path / "rgbx.jpg")
    assert back.orientation == 3 and back.icc_profile == meta.icc_profile and back.dpi == (300.0, 300.0)
    with Image.open(tmp_path / "rgbx.jpg") as written:
        assert written.getexif()[0x010F] == "Test Camera Maker"


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_jpeg_decoded_by_opencv_equals_pillow_and_truncation_still_fails(tmp_path, mode):
    picture = Image.fromarray(np.random.default_rng(5).integers(0, 256, (40, 56, 3), dtype=np.uint8)).convert(mode)
    picture.save(tmp_path / "a.jpg", quality=90, exif=_exif(6))
    with Image.open(tmp_path / "a.jpg") as img:
        expected = np.asarray(img.convert(mode))
    scan = images.read_image(tmp_path / "a.jpg")
    assert np.array_equal(scan.pixels, expected) and scan.orientation == 6  # stored layout, not turned
    data = (tmp_path / "a.jpg").read_bytes()
    (tmp_path / "trailer.jpg").write_bytes(data + b"camera trailer")  # not ending in EOI: Pillow reads it
    assert np.array_equal(images.read_image(tmp_path / "trailer.jpg").pixels, expected)
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ImageError, match="cut.jpg"):
        images.read_image(tmp_path / "cut.jpg")


def test_a_tiff_pillow_cannot_open_is_read_by_tifffile(tmp_path):
    """16-bit grey with alpha in a TIFF: Pillow does not identify it; tifffile reads it at its depth, with
    its alpha and the file's sha256, and a file that is not a TIFF at all is still named as such."""
    import hashlib

    from PIL import Image, UnidentifiedImageError

    rng = np.random.default_rng(5)
    data = rng.integers(0, 65536, (9, 7, 2), dtype=np.uint16)
    path = tmp_path / "grey-alpha16.tif"
    tifffile.imwrite(path, data, photometric="minisblack", extrasamples=["unassalpha"])
    with pytest.raises(UnidentifiedImageError):
        Image.open(path)
    image = images.read_image(path)
    assert image.pixels.dtype == np.uint16 and np.array_equal(image.pixels, data[..., 0])
    assert np.array_equal(image.alpha, data[..., 1]) and image.source_mode == "LA;16"
    assert image.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / "noise.tif").write_bytes(rng.integers(0, 256, 300, dtype=np.uint8).tobytes())
    with pytest.raises(ImageError, match="noise.tif: not an image"):
        images.read_image(tmp_path / "noise.tif")
