"""JPEG 2000 (.jp2 .jpf .jpx containers, .j2k codestreams): archive masters, read at full depth and
written back losslessly.

Pillow reads grey (8 and 16 bit) and grey with alpha, but turns 16-bit colour into 8 bits and cannot
write it; OpenCV (OpenJPEG) reads and writes 8- and 16-bit RGB(A) but no grey with alpha. So colour is
read, and every output written, with OpenCV; its reversible (lossless) mode has to be asked for, its
default is lossy. OpenCV writes only the JP2 container; a .j2k output gets the codestream inside it.
Neither library writes JPEG 2000 metadata (ICC profile, resolution), so outputs carry none, and neither
reads grey with alpha above 8 bits (Pillow silently reduces it): such files are refused, not degraded.
"""

from __future__ import annotations

import os
import struct

import cv2
import numpy as np

from colorcli.errors import ImageError

_LOSSLESS = [cv2.IMWRITE_JPEG2000_COMPRESSION_X1000, 1000]


def read_colour(path: str | os.PathLike) -> np.ndarray:
    """RGB or RGBA (8 or 16 bit, as stored) of a JPEG 2000 file."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # a bare codestream warns of no colour space
    try:
        array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    finally:
        cv2.utils.logging.setLogLevel(level)
    if array is None or array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ImageError("corrupt or unsupported JPEG 2000 image")
    return cv2.cvtColor(array, cv2.COLOR_BGRA2RGBA if array.shape[2] == 4 else cv2.COLOR_BGR2RGB)


def check_readable(path: str | os.PathLike, mode: str) -> None:
    """Refuse what would be read below its depth: grey with alpha of more than 8 bits."""
    if mode != "LA":
        return
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    siz = head.find(b"\xff\x4f\xff\x51")  # start of codestream, then its SIZ marker segment
    if siz < 0 or len(head) < siz + 4 + 38 + 3:
        return
    components = struct.unpack_from(">H", head, siz + 4 + 36)[0]
    bits = max((head[siz + 4 + 38 + 3 * i] & 0x7F) + 1 for i in range(min(components, 2)))
    if bits > 8:
        raise ImageError(f"{bits}-bit grey with alpha JPEG 2000 is not supported (it would be read at 8 bits)")


def encode_lossless(rgb: np.ndarray, codestream_only: bool = False) -> bytes:
    """RGB(A) (uint8 or uint16) as a lossless JP2 file, or its bare codestream."""
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGBA2BGRA if rgb.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jp2", bgr, _LOSSLESS)
    if not ok:
        raise ImageError("JPEG 2000 encoder failed")
    data = encoded.tobytes()
    return _codestream(data) if codestream_only else data


def _codestream(jp2: bytes) -> bytes:
    """The contiguous codestream box ('jp2c') of a JP2 file (ISO 15444-1 annex I boxes)."""
    offset = 0
    while offset + 8 <= len(jp2):
        length, kind = struct.unpack_from(">I4s", jp2, offset)
        header = 8
        if length == 1:
            length, header = struct.unpack_from(">Q", jp2, offset + 8)[0], 16
        elif length == 0:
            length = len(jp2) - offset
        if kind == b"jp2c":
            return jp2[offset + header: offset + length]
        offset += length
    raise ImageError("JPEG 2000 encoder wrote no codestream")
