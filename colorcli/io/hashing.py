"""An input file read once for two purposes: decoding it and taking its sha256.

Each output's XMP and the report name the input by its sha256. Archive masters are large and often on
network storage: reading each a second time just to hash it would double the reads there. So the
hash is taken from the bytes the decoders read, as they read them.
"""

from __future__ import annotations

import hashlib
import io
import os

_GAP = 1 << 20  # a read starting this close past the hashed part reads the gap first (TIFF strips, boxes)
_BLOCK = 1 << 20


class HashingReader:
    """A binary file, open for reading, that hashes what its reader reads of it, in file order.

    A read that continues the hashed part extends it; rereads change nothing, and a jump far ahead (a
    TIFF's directory at the end of the file) is not hashed then. hexdigest() reads and hashes whatever
    the decoders did not read in order: with the decoders colorcli uses that is nothing, or a few
    kilobytes (a TIFF's directory at the end of the file).
    """

    def __init__(self, path: str | os.PathLike):
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close() / the context manager
        self._sha256 = hashlib.sha256()
        self._hashed = 0  # bytes 0.._hashed are in the hash

    def __enter__(self) -> "HashingReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def name(self) -> str:
        return self._file.name

    def read(self, size: int | None = -1) -> bytes:
        start = self._bridge()
        data = self._file.read(size)
        self._take(start, data)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        start = self._bridge()
        data = self._file.readline(size)
        self._take(start, data)
        return data

    def readinto(self, buffer) -> int:
        start = self._bridge()
        count = self._file.readinto(buffer)
        self._take(start, memoryview(buffer).cast("B")[:count])  # bytes, whatever the buffer's item type
        return count

    def read_all(self) -> bytes:
        """The whole file (for decoders that take bytes)."""
        self._file.seek(0)
        return self.read()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def fileno(self) -> int:
        # Without a descriptor, C decoders (libtiff, OpenJPEG in Pillow) read through read(), so what they
        # read is hashed; libtiff then takes a compressed 8-bit TIFF whole, before decoding it.
        raise io.UnsupportedOperation("read through HashingReader.read")

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._file.close()

    def hexdigest(self) -> str:
        """The file's sha256, reading what has not been hashed yet."""
        position = self._file.tell()
        self._file.seek(self._hashed)
        for block in iter(lambda: self._file.read(_BLOCK), b""):
            self._sha256.update(block)
            self._hashed += len(block)
        self._file.seek(position)
        return self._sha256.hexdigest()

    def _bridge(self) -> int:
        """Where the next read starts, after hashing a short gap between the hashed part and there."""
        start = self._file.tell()
        if self._hashed < start <= self._hashed + _GAP:
            self._file.seek(self._hashed)
            gap = self._file.read(start - self._hashed)
            self._sha256.update(gap)
            self._hashed += len(gap)
        return start

    def _take(self, start: int, data) -> None:
        end = start + len(data)
        if start <= self._hashed < end:
            self._sha256.update(memoryview(data)[self._hashed - start:])
            self._hashed = end
