"""JPEG 2000 (.jp2 .jpf .jpx containers, .j2k codestreams): archive masters, read at full depth and
written back losslessly.

Pillow reads grey (8 and 16 bit) and grey with alpha, but turns 16-bit colour into 8 bits and cannot
write it; OpenCV (OpenJPEG) reads and writes 8- and 16-bit RGB(A) but no grey with alpha. So colour is
read, and every output written, with OpenCV; its reversible (lossless) mode has to be asked for, its
default is lossy. OpenCV writes only the JP2 container; a .j2k output gets the codestream inside it.
Neither library writes JPEG 2000 metadata (ICC profile, resolution), so outputs carry none but the XMP
packet inserted here (a bare .j2k codestream has no place for it), and neither reads grey with alpha
above 8 bits (Pillow silently reduces it): such files are refused, not degraded. Neither library reads
XMP either: find_xmp looks for it among the file's boxes.

OpenCV's encoder asks OpenJPEG for its default 6 resolution levels, which a picture under 32 px on a side
cannot hold (the encoder fails, and logs to the terminal): those small pictures are written by imagecodecs
(the same OpenJPEG, which it lets choose the levels), losslessly, at 8 or 16 bits.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

import cv2
import numpy as np

from colorcli.errors import ImageError

_LOSSLESS = [cv2.IMWRITE_JPEG2000_COMPRESSION_X1000, 1000]
_OPENCV_LEAST_SIDE = 32  # OpenCV's OpenJPEG settings (6 resolution levels) need this many px on each side


_XMP_UUID = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")  # the UUID box of XMP (XMP specification part 3)
_MAX_XMP = 1 << 24  # a box claiming more is not read as XMP


def read_colour(data: bytes) -> np.ndarray:
    """RGB or RGBA (8 or 16 bit, as stored) of a JPEG 2000 file's bytes."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # a bare codestream warns of no colour space
    try:
        array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    finally:
        cv2.utils.logging.setLogLevel(level)
    if array is None or array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ImageError("corrupt or unsupported JPEG 2000 image")
    return cv2.cvtColor(array, cv2.COLOR_BGRA2RGBA if array.shape[2] == 4 else cv2.COLOR_BGR2RGB)


def check_readable(handle: BinaryIO, mode: str) -> None:
    """Refuse what would be read below its depth: grey with alpha of more than 8 bits."""
    if mode != "LA":
        return
    position = handle.tell()
    handle.seek(0)
    head = handle.read(1 << 16)
    handle.seek(position)
    siz = head.find(b"\xff\x4f\xff\x51")  # start of codestream, then its SIZ marker segment
    if siz < 0 or len(head) < siz + 4 + 38 + 3:
        return
    components = struct.unpack_from(">H", head, siz + 4 + 36)[0]
    bits = max((head[siz + 4 + 38 + 3 * i] & 0x7F) + 1 for i in range(min(components, 2)))
    if bits > 8:
        raise ImageError(f"{bits}-bit grey with alpha JPEG 2000 is not supported (it would be read at 8 bits)")


def encode_lossless(rgb: np.ndarray, codestream_only: bool = False, xmp: bytes | None = None) -> bytes:
    """RGB(A) (uint8 or uint16) as a lossless JP2 file, with XMP if given, or its bare codestream."""
    if min(rgb.shape[:2]) < _OPENCV_LEAST_SIDE:
        data = _encode_small(rgb)
    else:
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGBA2BGRA if rgb.shape[2] == 4 else cv2.COLOR_RGB2BGR)
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # a failure is raised, not logged
        try:
            ok, encoded = cv2.imencode(".jp2", bgr, _LOSSLESS)
        finally:
            cv2.utils.logging.setLogLevel(level)
        if not ok:
            raise ImageError("JPEG 2000 encoder failed")
        data = encoded.tobytes()
    if codestream_only:
        start, end, header = _box(data, b"jp2c")
        return data[start + header: end]
    return _with_xmp(data, xmp) if xmp else data


def _encode_small(rgb: np.ndarray) -> bytes:
    import imagecodecs

    try:
        return bytes(imagecodecs.jpeg2k_encode(np.ascontiguousarray(rgb), level=0, codecformat="JP2",
                                               reversible=True))
    except imagecodecs.Jpeg2kError as error:
        raise ImageError(f"JPEG 2000 encoder failed ({error})") from None


def _with_xmp(jp2: bytes, xmp: bytes) -> bytes:
    """JP2 with an XMP UUID box just before its codestream box: boxes other than the signature and
    file type may come in any order (ISO 15444-1 annex I), and readers find the metadata first."""
    start, _, _ = _box(jp2, b"jp2c")
    box = struct.pack(">I4s", 8 + len(_XMP_UUID) + len(xmp), b"uuid") + _XMP_UUID + xmp
    return jp2[:start] + box + jp2[start:]


def _boxes(read_at, size: int):
    """(start, end, header length, type) of each top-level box (ISO 15444-1 annex I), read_at(offset, n)
    giving a file's bytes."""
    offset = 0
    while offset + 8 <= size:
        length, kind = struct.unpack(">I4s", read_at(offset, 8))
        header = 8
        if length == 1:
            length, header = struct.unpack(">Q", read_at(offset + 8, 8))[0], 16
        elif length == 0:
            length = size - offset
        if length < header:
            return
        yield offset, min(offset + length, size), header, kind
        offset += length


def _box(jp2: bytes, kind: bytes) -> tuple[int, int, int]:
    for start, end, header, found in _boxes(lambda offset, n: jp2[offset: offset + n], len(jp2)):
        if found == kind:
            return start, end, header
    raise ImageError(f"JPEG 2000 encoder wrote no {kind.decode()!r} box")


def find_xmp(handle: BinaryIO) -> bytes | None:
    """The XMP packet of a JP2 file (its XMP UUID box), reading only box headers and that box."""
    def read_at(offset: int, n: int) -> bytes:
        handle.seek(offset)
        return handle.read(n).ljust(n, b"\x00")

    position = handle.tell()
    try:
        size = handle.seek(0, os.SEEK_END)
        for start, end, header, kind in _boxes(read_at, size):
            if kind == b"uuid" and end - start - header <= _MAX_XMP + 16:
                body = read_at(start + header, end - start - header)
                if body[:16] == _XMP_UUID:
                    return body[16:] or None
        return None
    finally:
        handle.seek(position)
