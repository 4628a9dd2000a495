"""Which files colorcli reads and which extension each output gets: file names only.

Kept apart from colorcli.io.images so that the colorize command's parent process, which walks the tree
and runs the model but never decodes a picture, does not import OpenCV and Pillow (about 0.1 s of
start-up on the critical path: the workers wait for it)."""

from __future__ import annotations

from pathlib import Path

INPUT_EXTENSIONS = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp", ".gif", ".jp2", ".j2k", ".jpf", ".jpx"}
FORMAT_EXTENSIONS = {"png": ".png", "jpg": ".jpg", "tif": ".tif"}
FORMAT_OF_EXTENSION = {
    ".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF",
    ".webp": "WEBP", ".bmp": "BMP", ".gif": "GIF",
    ".jp2": "JPEG2000", ".jpf": "JPEG2000", ".jpx": "JPEG2000", ".j2k": "J2K",
}


def output_extension(path: Path, fmt: str) -> str:
    """Extension an output of `path` gets: kept (GIF becomes PNG), or the one --format asks for."""
    if fmt != "keep":
        return FORMAT_EXTENSIONS[fmt]
    ext = path.suffix.lower()
    return ".png" if ext == ".gif" else path.suffix
