"""The file every export writes through: a running sha256 and byte count of what was written,
with the hashing and the writing off the caller's thread and the page cache.

An export with the images inside was bound by one core: py-spy put 56-71 % of its time on
sha256 plus the write system call, whose copy into the page cache costs the kernel about as much
CPU as `dd` spends. Here the caller only queues its writes; one thread hashes them (sha256
releases the GIL) and another writes them with O_DIRECT, so the disk takes
the bytes by DMA and the 35 GB of a large export don't push everything else out of the page
cache. Where the file system refuses O_DIRECT (tmpfs) the writes are buffered. The digest covers
exactly the bytes written, in order.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import mmap
import os
import queue
import threading
import weakref
from pathlib import Path
from typing import Any

import numpy as np

BLOCK = 1 << 20
DIRECT = BLOCK  # a bytes object this large (a Parquet column chunk) goes on uncopied
QUEUED = 8
STAGE = 8 << 20  # bytes per O_DIRECT write: a multiple of any device's logical block
ALIGN = 4096


class HashingFile:
    """A binary file object (for pyarrow, tarfile and plain writes) that hashes as it writes.

    Small writes are gathered into blocks of about `BLOCK` bytes; a large bytes object is
    passed on as it is. The writing thread copies into its page-aligned staging buffer with
    NumPy, which releases the GIL, so no copy of a large export's bytes holds the caller up.
    At most `QUEUED` pieces wait at each stage, so memory stays bounded."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sha256 = hashlib.sha256()
        self.size = 0
        self._buffer = bytearray()
        self._closed = False
        self._errors: list[Exception] = []
        fd, direct = _open(path)
        self._to_hash: queue.Queue[bytes | bytearray | memoryview | None] = queue.Queue(QUEUED)
        to_write: queue.Queue[bytes | bytearray | memoryview | None] = queue.Queue(QUEUED)
        self._threads = [
            threading.Thread(
                target=_hash_blocks, args=(self._to_hash, to_write, self.sha256), daemon=True
            ),
            threading.Thread(
                target=_write_blocks, args=(to_write, fd, direct, self._errors), daemon=True
            ),
        ]
        for thread in self._threads:
            thread.start()
        # A file abandoned by an exception still ends its threads and closes its descriptor.
        self._finalizer = weakref.finalize(self, self._to_hash.put, None)

    def write(self, data: Any) -> int:
        if self._closed:
            raise ValueError("write to a closed file")
        self._raise_error()
        size = memoryview(data).nbytes
        self.size += size
        if size >= DIRECT:
            self._push()
            # the caller may reuse a buffer it lends: keep a copy (a bytes object is its own)
            view = memoryview(data if isinstance(data, bytes) else bytes(data)).cast("B")
            for start in range(0, size, BLOCK):  # pieces bound what waits in the queues
                self._to_hash.put(view[start : start + BLOCK])
        else:
            self._buffer += data
            if len(self._buffer) >= BLOCK:
                self._push()
        return size

    def _push(self) -> None:
        if self._buffer:
            block, self._buffer = self._buffer, bytearray()  # handed over, not copied
            self._to_hash.put(block)

    def _raise_error(self) -> None:
        if self._errors:
            raise self._errors[0]

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        """Nothing to do: `close` hashes and writes every byte."""

    @property
    def closed(self) -> bool:
        return self._closed

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        """Waits until every byte is hashed and written; raises the write's error if any."""
        if self._closed:
            return
        self._closed = True
        self._push()
        self._finalizer()  # the end marker
        for thread in self._threads:
            thread.join()
        self._raise_error()

    def describe(self) -> dict[str, Any]:
        return {"sha256": self.sha256.hexdigest(), "bytes": self.size}


def _open(path: Path) -> tuple[int, bool]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    direct = getattr(os, "O_DIRECT", 0)
    if direct:
        try:
            return os.open(path, flags | direct, 0o644), True
        except OSError:
            pass  # e.g. tmpfs: EINVAL
    return os.open(path, flags, 0o644), False


def _hash_blocks(blocks: queue.Queue, out: queue.Queue, digest: Any) -> None:
    while (block := blocks.get()) is not None:
        digest.update(block)
        out.put(block)
    out.put(None)


def _write_blocks(blocks: queue.Queue, fd: int, direct: bool, errors: list[Exception]) -> None:
    stage = mmap.mmap(-1, STAGE)  # anonymous memory is page-aligned, as O_DIRECT needs
    staged = np.frombuffer(stage, dtype=np.uint8)
    fill = 0
    try:
        while (block := blocks.get()) is not None:
            if errors:
                continue  # keep draining, so the producer never waits on a failed file
            try:
                data = np.frombuffer(block, dtype=np.uint8)
                while data.size:
                    take = min(STAGE - fill, data.size)
                    staged[fill : fill + take] = data[:take]  # NumPy copies without the GIL
                    fill += take
                    data = data[take:]
                    if fill == STAGE:
                        direct = _write(fd, memoryview(stage), direct)
                        fill = 0
            except OSError as error:
                errors.append(error)
        if fill and not errors:
            try:
                whole = fill - fill % ALIGN
                with memoryview(stage) as view:
                    if whole:
                        direct = _write(fd, view[:whole], direct)
                    if fill > whole:  # the tail is not a whole block: through the cache
                        _write(fd, view[whole:fill], _buffered(fd))
            except OSError as error:
                errors.append(error)
    finally:
        os.close(fd)
        del staged
        # A failed write's traceback (kept in `errors`) may still hold a view of the buffer;
        # the mapping is then freed with it.
        with contextlib.suppress(BufferError):
            stage.close()


def _write(fd: int, data: memoryview, direct: bool) -> bool:
    """Writes all of `data`; returns whether the descriptor is still in O_DIRECT mode (a short
    write leaves an unaligned rest, which is then written through the cache)."""
    while data:
        written = os.write(fd, data)
        data = data[written:]
        if data and direct:
            direct = _buffered(fd)
    return direct


def _buffered(fd: int) -> bool:
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    if flags & os.O_DIRECT:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_DIRECT)
    return False
