"""The exports' hashing file: its digest and size are those of the bytes on disk, in order,
whatever the sizes of the writes; a failed write surfaces; an abandoned file ends its threads."""

from __future__ import annotations

import gc
import hashlib
import os
from pathlib import Path

import pytest

from curation.pipeline.hashing_file import BLOCK, STAGE, HashingFile


def test_digest_and_size_match_the_file_for_mixed_writes(tmp_path: Path) -> None:
    rng = os.urandom
    pieces = [b"[", rng(10), rng(BLOCK * 3 + 7), memoryview(rng(5000)), b""]
    pieces += [rng(700) for _ in range(4000)] + [bytearray(rng(BLOCK))]
    out = HashingFile(tmp_path / "data.bin")
    for piece in pieces:
        assert out.write(piece) == len(piece)
    out.flush()
    assert out.tell() == sum(len(p) for p in pieces)
    out.close()
    out.close()  # closing twice is harmless
    data = (tmp_path / "data.bin").read_bytes()
    assert data == b"".join(bytes(p) for p in pieces)
    assert out.describe() == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    with pytest.raises(ValueError):
        out.write(b"late")


def test_a_failed_write_is_raised(tmp_path: Path) -> None:
    out = HashingFile(Path("/dev/full"))  # every write fails with "no space left on device"
    with pytest.raises(OSError) as raised:
        for _ in range(64):
            out.write(os.urandom(BLOCK))
        out.close()
    assert raised.value.errno == 28


def test_an_abandoned_file_ends_its_threads(tmp_path: Path) -> None:
    out = HashingFile(tmp_path / "partial.bin")
    out.write(os.urandom(BLOCK * 2))
    threads = list(out._threads)
    del out
    gc.collect()
    for thread in threads:
        thread.join(timeout=10)
        assert not thread.is_alive()


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, STAGE - 1, STAGE, STAGE + 4097, 3 * STAGE + 5])
@pytest.mark.parametrize("folder", ["tmp", "shm"])
def test_every_length_lands_exactly_with_and_without_direct_io(tmp_path: Path, size, folder):
    """Whole staging buffers go out with O_DIRECT, an unaligned tail through the cache; on
    tmpfs (no O_DIRECT) everything is buffered."""
    if folder == "shm":
        if not Path("/dev/shm").is_dir():
            pytest.fail("this test needs a tmpfs at /dev/shm")
        target = Path(f"/dev/shm/hashing-file-{os.getpid()}-{size}.bin")
    else:
        target = tmp_path / "data.bin"
    data = os.urandom(size)
    out = HashingFile(target)
    for start in range(0, size, 300_000):
        out.write(data[start : start + 300_000])
    out.close()
    try:
        assert target.read_bytes() == data
        assert out.describe() == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": size}
    finally:
        target.unlink()
