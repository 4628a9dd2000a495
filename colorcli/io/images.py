"""Reading and writing scans: every mode a scan can have, bit depth, alpha and metadata kept.

Pillow reads and writes 8-bit images with their EXIF, ICC profile, DPI, XMP and PNG text. Pillow cannot
hold 16-bit RGB, so 16-bit PNGs are decoded and encoded with OpenCV (metadata chunks added by hand, below)
and 16-bit TIFFs with tifffile. Every file is read once: its sha256 is taken from the bytes the decoders
read (colorcli.io.hashing). Writes are atomic: a temp file in the target folder, then a rename.
"""

from __future__ import annotations

import errno
import io
import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageFile, PngImagePlugin, UnidentifiedImageError

from colorcli.io import jpeg2000
from colorcli.io.atomic import atomic_write
from colorcli.errors import DiskFullError, ImageError
from colorcli.io.formats import FORMAT_OF_EXTENSION
from colorcli.io.hashing import HashingReader

# Archives hold 100+ MP scans; Pillow's bomb guard would refuse them. One billion pixels still stops
# a malicious header from allocating unbounded memory.
Image.MAX_IMAGE_PIXELS = 1_000_000_000
ImageFile.LOAD_TRUNCATED_IMAGES = False

JPEG_QUALITY = 95


@dataclass
class ScanImage:
    """Pixels as stored (no orientation applied) plus everything needed to write them back faithfully.

    pixels: (H, W) grey or (H, W, 3) RGB, uint8 or uint16. alpha: (H, W) of the same dtype, or None.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    orientation: int = 1
    exif: bytes | None = None
    icc_profile: bytes | None = None
    dpi: tuple[float, float] | None = None
    text: dict[str, str] = field(default_factory=dict)
    source_mode: str = ""
    xmp: bytes | None = None  # read: the file's XMP packet; written: the packet to write
    sha256: str | None = None  # of the file read

    @property
    def bit_depth(self) -> int:
        return 16 if self.pixels.dtype == np.uint16 else 8

    @property
    def megapixels(self) -> float:
        return self.pixels.shape[0] * self.pixels.shape[1] / 1e6


def _pil_metadata(img: Image.Image) -> dict:
    info = img.info
    exif = info.get("exif")
    orientation = 1
    try:
        orientation = int(img.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - a broken EXIF block must not cost the picture; keep orientation 1
        orientation = 1
    dpi = info.get("dpi")
    text = {k: v for k, v in info.items() if img.format == "PNG" and isinstance(v, str) and k != _PNG_XMP_KEY}
    return {
        "exif": exif if isinstance(exif, bytes) and exif else None,
        "icc_profile": info.get("icc_profile") or None,
        "dpi": (float(dpi[0]), float(dpi[1])) if dpi else None,
        "orientation": orientation if 1 <= orientation <= 8 else 1,
        "text": text,
        "xmp": _xmp_bytes(info.get("xmp")),
    }


_PNG_XMP_KEY = "XML:com.adobe.xmp"  # the iTXt keyword of XMP in PNG; written from ScanImage.xmp, not text


def _xmp_bytes(value) -> bytes | None:
    if isinstance(value, str):
        value = value.encode("utf-8")
    return bytes(value) if value else None


def _png_is_16bit(source: HashingReader) -> bool:
    position = source.tell()
    source.seek(0)
    head = source.read(29)
    source.seek(position)
    return len(head) == 29 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[24] == 16


def _split_channels(array: np.ndarray, mode_hint: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(H, W), (H, W, 1..4) arrays in RGB(A)/grey(A) order to pixels and alpha."""
    if array.ndim == 2:
        return array, None
    channels = array.shape[2]
    if channels == 1:
        return array[:, :, 0], None
    if channels == 2:
        return array[:, :, 0], array[:, :, 1]
    if channels == 3:
        return array, None
    if channels == 4:
        return array[:, :, :3], array[:, :, 3]
    raise ImageError(f"unsupported channel count {channels} ({mode_hint})")


def _read_16bit_png(data: bytes) -> np.ndarray:
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise ImageError("corrupt 16-bit PNG")
    if array.ndim == 3 and array.shape[2] == 3:
        array = cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
    elif array.ndim == 3 and array.shape[2] == 4:
        array = cv2.cvtColor(array, cv2.COLOR_BGRA2RGBA)
    return array


def _png_chunk_xmp(data: bytes) -> bytes | None:
    """The XMP of a PNG from its chunks (Pillow reports only those before the image data)."""
    offset = 8
    while offset + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, offset)
        body = data[offset + 8: offset + 8 + length]
        if kind == b"iTXt" and body.startswith(_PNG_XMP_KEY.encode() + b"\x00\x00"):  # uncompressed
            language_end = body.find(b"\x00", len(_PNG_XMP_KEY) + 3)
            keyword_end = body.find(b"\x00", language_end + 1) if language_end >= 0 else -1
            return _xmp_bytes(body[keyword_end + 1:]) if keyword_end >= 0 else None
        if kind == b"IEND":
            break
        offset += 12 + length
    return None


def _read_jpeg(source: HashingReader, img: Image.Image) -> np.ndarray | None:
    """A grey or RGB JPEG decoded by OpenCV: the same libjpeg-turbo pixels as Pillow's, a fifth (grey)
    to a third (colour) faster. OpenCV decodes what it can of a truncated file without failing, so a
    file that does not end in the end-of-image marker gets None (Pillow then reads it or refuses it)."""
    data = np.frombuffer(source.read_all(), np.uint8)
    if data[-2:].tobytes() != b"\xff\xd9":
        return None
    grey = img.mode == "L"
    array = cv2.imdecode(data, cv2.IMREAD_IGNORE_ORIENTATION | (cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR))
    if array is None or array.shape[:2] != (img.height, img.width):
        return None
    return array if grey else cv2.cvtColor(array, cv2.COLOR_BGR2RGB)


def _read_16bit_tiff(source: HashingReader) -> np.ndarray:
    import tifffile

    source.seek(0)  # tifffile takes a stream's position for the start of the TIFF
    with tifffile.TiffFile(source) as tif:
        page = tif.pages[0]
        array = page.asarray(maxworkers=_threads())
        if page.photometric == tifffile.PHOTOMETRIC.MINISWHITE:
            array = np.iinfo(array.dtype).max - array
    return array


def _pil_pixels(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        return np.asarray(img)
    if mode == "1":
        return np.asarray(img.convert("L"))
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in img.info
        return np.asarray(img.convert("RGBA" if has_alpha else "RGB"))
    if mode.startswith("I;16") or mode == "I":
        array = np.asarray(img)
        if array.min() < 0 or array.max() > 65535:
            raise ImageError(f"unsupported {mode} range ({array.min()}..{array.max()})")
        return array.astype(np.uint16)
    if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        return np.asarray(img.convert("RGB"))
    raise ImageError(f"unsupported image mode {mode}")


def _is_empty(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except OSError:
        return False


def read_image(path: str | os.PathLike) -> ScanImage:
    """Read a scan; raises ImageError naming the file and the reason."""
    path = Path(path)
    try:
        with HashingReader(path) as source, Image.open(source) as img:
            meta = _pil_metadata(img)
            mode = img.mode
            if img.format == "JPEG" and mode in ("L", "RGB") and (decoded := _read_jpeg(source, img)) is not None:
                array = decoded
            elif img.format == "PNG" and _png_is_16bit(source):
                data = source.read_all()
                array = _read_16bit_png(data)
                meta["xmp"] = meta["xmp"] or _png_chunk_xmp(data)
            elif img.format == "TIFF" and 16 in _tiff_bits(img):
                array = _read_16bit_tiff(source)
            elif img.format == "JPEG2000" and mode in ("RGB", "RGBA"):
                array = jpeg2000.read_colour(source.read_all())
            else:
                if img.format == "JPEG2000":
                    jpeg2000.check_readable(source, mode)
                img.seek(0)
                img.load()
                array = _pil_pixels(img)
                if img.format == "TIFF" and _pil_turned_upright(img):
                    meta.update(_upright_metadata(img))
                meta["xmp"] = meta["xmp"] or _xmp_bytes(img.info.get("xmp"))  # a PNG's, after its image data
            if img.format == "JPEG2000":
                meta["xmp"] = jpeg2000.find_xmp(source)
            sha256 = source.hexdigest()
    except ImageError as error:
        raise ImageError(f"{path}: {error}") from None
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except UnidentifiedImageError:
        if _is_empty(path):
            raise ImageError(f"{path}: empty file (0 bytes)") from None
        if path.suffix.lower() not in (".tif", ".tiff"):
            raise ImageError(f"{path}: not an image, or a format colorcli cannot read") from None
        array, mode, sha256, meta = _read_tiff_pillow_cannot(path)
    except Image.DecompressionBombError as error:
        raise ImageError(f"{path}: too large ({error})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageError(f"{path}: corrupt or truncated image ({error})") from None
    pixels, alpha = _split_channels(array, mode)
    if pixels.dtype not in (np.uint8, np.uint16):
        raise ImageError(f"{path}: unsupported sample type {pixels.dtype}")
    return ScanImage(pixels=np.ascontiguousarray(pixels),
                     alpha=None if alpha is None else np.ascontiguousarray(alpha),
                     source_mode=mode, sha256=sha256, **meta)


def _read_tiff_pillow_cannot(path: Path) -> tuple[np.ndarray, str, str, dict]:
    """A TIFF that Pillow does not open (16-bit grey with alpha, among others), read by tifffile: its first
    page as grey, grey + alpha, RGB or RGBA, 8 or 16 bit; (pixels, mode, sha256, metadata)."""
    import tifffile

    try:
        with HashingReader(path) as source:
            with tifffile.TiffFile(source) as tif:
                page = tif.pages[0]
                array = page.asarray()
                photometric = page.photometric
            source.read_all()
            sha256 = source.hexdigest()
    except (tifffile.TiffFileError, OSError, ValueError, IndexError) as error:
        raise ImageError(f"{path}: not an image, or a format colorcli cannot read ({error})") from None
    if array.dtype not in (np.uint8, np.uint16) or array.ndim not in (2, 3) or \
            (array.ndim == 3 and array.shape[2] not in (1, 2, 3, 4)):
        raise ImageError(f"{path}: unsupported TIFF layout {array.shape} {array.dtype}")
    if photometric == tifffile.PHOTOMETRIC.MINISWHITE:
        array = np.iinfo(array.dtype).max - array
    channels = 1 if array.ndim == 2 else array.shape[2]
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels] + (";16" if array.dtype == np.uint16 else "")
    return array, mode, sha256, {}


def _pil_turned_upright(img: Image.Image) -> bool:
    """Pillow applies a TIFF's orientation tag while decoding; the stored size tells whether it did."""
    stored = (img.tag_v2.get(256), img.tag_v2.get(257))
    return None not in stored and tuple(img.size) != stored


def _upright_metadata(img: Image.Image) -> dict:
    exif = img.getexif()
    exif[0x0112] = 1
    return {"orientation": 1, "exif": exif.tobytes()}


def _tiff_bits(img: Image.Image) -> tuple[int, ...]:
    bits = img.tag_v2.get(258, (8,))
    return tuple(bits) if isinstance(bits, tuple) else (int(bits),)


def _icc_is_rgb(profile: bytes | None) -> bool:
    # A grey ICC profile (data colour space 'GRAY') would be wrong on an RGB output; it is dropped.
    return bool(profile) and len(profile) >= 20 and profile[16:20] == b"RGB "


def _exif_payload(exif: bytes) -> bytes:
    return exif[6:] if exif.startswith(b"Exif\x00\x00") else exif


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _encode_png16(rgb: np.ndarray, image: ScanImage) -> bytes:
    """16-bit PNG via OpenCV, with iCCP, pHYs and eXIf chunks inserted after IHDR."""
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGBA2BGRA if rgb.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", bgr)
    if not ok:
        raise ImageError("PNG encoder failed")
    data = encoded.tobytes()
    chunks = b""
    if _icc_is_rgb(image.icc_profile):
        chunks += _png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(image.icc_profile))
    if image.dpi:
        ppm = [max(1, round(d / 0.0254)) for d in image.dpi]
        chunks += _png_chunk(b"pHYs", struct.pack(">IIB", ppm[0], ppm[1], 1))
    if image.exif:
        chunks += _png_chunk(b"eXIf", _exif_payload(image.exif))
    if image.xmp:  # iTXt, uncompressed, no language or translated keyword, as the XMP specification asks
        chunks += _png_chunk(b"iTXt", _PNG_XMP_KEY.encode() + b"\x00\x00\x00\x00\x00" + image.xmp)
    ihdr_end = 8 + 8 + 13 + 4
    return data[:ihdr_end] + chunks + data[ihdr_end:]


_TIFF_XMP = 700  # the TIFF tag of an XMP packet (type BYTE)
_TIFF_STRIP_BYTES = 262144  # tifffile's own choice for compressed strips: the same layout as before
_TIFF_BAND_BYTES = 1 << 24  # rows merged and compressed at a time


def _threads() -> int:
    # the pipeline gives each worker its share of the cores as OpenCV's thread count
    return max(1, cv2.getNumThreads())


def _write_tiff16(handle, shape: tuple[int, ...], rows, image: ScanImage) -> None:
    """A deflate TIFF written strip by strip: rows(top, bottom) is called band by band, and each band
    compressed (in threads: zlib lets go of the GIL) and written before the next is made, so a 100 MP
    master never exists whole as RGB in memory."""
    import tifffile

    height, width, samples = shape
    row_bytes = width * samples * 2
    per_strip = max(1, min(height, _TIFF_STRIP_BYTES // row_bytes))
    per_band = per_strip * max(1, _TIFF_BAND_BYTES // (row_bytes * per_strip))

    def strips(pool):
        for top in range(0, height, per_band):
            band = np.ascontiguousarray(rows(top, min(top + per_band, height)), dtype="<u2")
            pieces = [band[i:i + per_strip] for i in range(0, len(band), per_strip)]
            yield from pool.map(lambda piece: zlib.compress(piece, 6), pieces)  # tifffile's zlib level

    kwargs = {"photometric": "rgb", "extratags": [(274, "H", 1, image.orientation, True)]}
    if image.xmp:
        kwargs["extratags"].append((_TIFF_XMP, "B", len(image.xmp), image.xmp, True))
    if samples == 4:
        kwargs["extrasamples"] = ("unassalpha",)
    if _icc_is_rgb(image.icc_profile):
        kwargs["iccprofile"] = image.icc_profile
    if image.dpi:
        kwargs["resolution"] = image.dpi
        kwargs["resolutionunit"] = "INCH"
    bigtiff = height * row_bytes > 2**32 - 2**25  # what tifffile.imwrite decides
    named = tifffile.FileHandle(handle, mode="wb", name="output.tif", size=0)  # its own name is a descriptor
    with ThreadPoolExecutor(_threads()) as pool, tifffile.TiffWriter(named, bigtiff=bigtiff) as tif:
        tif.write(strips(pool), shape=shape, dtype=np.uint16, compression="zlib", rowsperstrip=per_strip,
                  **kwargs)


def _pil_save_options(fmt: str, image: ScanImage) -> dict:
    options: dict = {}
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = JPEG_QUALITY
    if fmt == "TIFF":
        options["compression"] = "tiff_lzw"
    if fmt != "BMP":
        if image.exif:
            options["exif"] = image.exif
        if image.xmp and fmt in ("JPEG", "WEBP"):
            options["xmp"] = image.xmp
        elif image.xmp and fmt == "TIFF":  # Pillow writes TIFF tags given with the EXIF ones
            exif = Image.Exif()
            if image.exif:
                exif.load(image.exif)
            exif[_TIFF_XMP] = image.xmp
            options["exif"] = exif
        if _icc_is_rgb(image.icc_profile):
            options["icc_profile"] = image.icc_profile
        if image.dpi:
            options["dpi"] = image.dpi
    if fmt == "PNG" and (image.text or image.xmp):
        info = PngImagePlugin.PngInfo()
        for key, value in image.text.items():
            info.add_text(key, value)
        if image.xmp:
            info.add_itxt(_PNG_XMP_KEY, image.xmp)
        options["pnginfo"] = info
    return options


def encode_to(handle, rgb: np.ndarray, image: ScanImage, fmt: str) -> None:
    """Write RGB(A) pixels (uint8 or uint16) with `image`'s metadata to an open binary file."""
    if fmt in ("JPEG2000", "J2K"):
        handle.write(jpeg2000.encode_lossless(rgb, codestream_only=fmt == "J2K", xmp=image.xmp))
        return
    if rgb.dtype == np.uint16 and fmt in ("PNG", "TIFF"):
        if fmt == "PNG":
            handle.write(_encode_png16(rgb, image))
        else:
            _write_tiff16(handle, rgb.shape, lambda top, bottom: rgb[top:bottom], image)
        return
    rgb = to_uint8(rgb)
    options = _pil_save_options(fmt, image)
    if rgb.shape[2] == 4 and fmt == "JPEG":  # no alpha in JPEG: the 4th channel is ignored, and unlike
        # 3-channel RGB (Pillow holds 4 bytes a pixel) RGBX is encoded from the array without a copy
        height, width = rgb.shape[:2]
        Image.frombuffer("RGBX", (width, height), np.ascontiguousarray(rgb), "raw", "RGBX", 0, 1).save(
            handle, format=fmt, **options)
        return
    if rgb.shape[2] == 4 and fmt == "BMP":
        rgb = rgb[:, :, :3]  # BMP cannot hold alpha
    mode = "RGBA" if rgb.shape[2] == 4 else "RGB"
    Image.fromarray(np.ascontiguousarray(rgb), mode).save(handle, format=fmt, **options)


def write_image(path: str | os.PathLike, rgb: np.ndarray, image: ScanImage) -> None:
    """Atomically write `rgb` (H, W, 3|4) to `path` in the format its extension names; on any
    failure `path` is untouched and no temp file is left."""
    write_rows(path, rgb.shape, rgb.dtype, lambda top, bottom: rgb[top:bottom], image)


def write_rows(path: str | os.PathLike, shape: tuple[int, ...], dtype, rows, image: ScanImage) -> None:
    """write_image of an (H, W, 3|4) picture given as rows(top, bottom) -> its rows top..bottom.

    A 16-bit TIFF is made and written band by band; other formats take the whole picture at once.
    """
    path = Path(path)
    fmt = FORMAT_OF_EXTENSION.get(path.suffix.lower())
    if fmt is None or fmt == "GIF":
        raise ImageError(f"{path}: cannot write format {path.suffix!r}")
    try:
        with atomic_write(path) as handle:
            if np.dtype(dtype) == np.uint16 and fmt == "TIFF":
                # strip by strip through Python's buffered file, which raises on a short write
                _write_tiff16(handle, tuple(shape), rows, image)
            else:
                # Encoded in memory, then written through Python's buffered file, which raises on a short
                # write. Pillow given a real file writes straight to its descriptor and ignores a short
                # write(): on a full disk that left a truncated file under its final name.
                encoded = io.BytesIO()
                encode_to(encoded, rows(0, shape[0]), image, fmt)
                handle.write(encoded.getbuffer())
    except (OSError, ValueError) as error:
        raise _write_error(path, error) from None


def _write_error(path: Path, error: Exception) -> ImageError:
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(f"{path}: no space left on device", path.parent)
    return ImageError(f"{path}: cannot write ({error})")


def takes_rgbx(path: str | os.PathLike) -> bool:
    """Whether 8-bit pixels for `path` are best given as RGBX: true of JPEG (see encode_to)."""
    return FORMAT_OF_EXTENSION.get(Path(path).suffix.lower()) == "JPEG"


def write_png(path: str | os.PathLike, rgb8: np.ndarray) -> None:
    """Atomically write an 8-bit RGB picture made by colorcli (a sheet, a plot) as a plain PNG."""
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb8, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ImageError(f"{path}: could not encode the PNG")
    try:
        with atomic_write(path) as handle:
            handle.write(encoded.tobytes())
    except OSError as error:
        raise _write_error(Path(path), error) from None


def with_alpha(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Stack an alpha plane (converted to rgb's depth) onto RGB."""
    if alpha is None:
        return rgb
    if alpha.dtype != rgb.dtype:
        alpha = alpha.astype(np.uint16) * 257 if rgb.dtype == np.uint16 else to_uint8(alpha)
    return np.dstack([rgb, alpha])


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """16-bit samples to 8-bit (rounded); 8-bit ones unchanged."""
    if pixels.dtype == np.uint16:
        return (pixels.astype(np.float32) * (255.0 / 65535.0) + 0.5).astype(np.uint8)
    return pixels


def to_rgb8(pixels: np.ndarray) -> np.ndarray:
    """Grey or RGB, 8 or 16 bit, to 8-bit RGB (what the metrics and previews work on)."""
    pixels = to_uint8(pixels)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    return np.ascontiguousarray(pixels)
