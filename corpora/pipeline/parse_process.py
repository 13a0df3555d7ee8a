"""Parse a corpus file in a process of its own, so that parsing and writing use two cores.

In one process the parse thread and the thread writing to PostgreSQL share the GIL: every
round trip to the database waits for the parser to let go of it. A child process has its own.
The child (`python -m corpora.pipeline.parse_process`) streams pickled ParsedChunks, with
their records already formatted as COPY rows, through a pipe to the importing process.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import resource
import struct
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from corpora.pipeline.chunks import ParsedChunk, parse_chunks
from corpora.pipeline.nesting import DEFAULT_MAX_DEPTH
from corpora.pipeline.problems import ImportFailed, Problem
from corpora.pipeline.readers import RecordReader

_HEADER = struct.Struct("<Q")
_PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MEMORY_MB = 2048


class ParseProcessError(RuntimeError):
    """The parse process failed in a way that is not a problem of the file (a bug, a kill)."""


@contextlib.contextmanager
def chunks_from_process(
    path: Path,
    *,
    default_category: str,
    size: int,
    max_depth: int = DEFAULT_MAX_DEPTH,
    memory_mb: int = DEFAULT_MEMORY_MB,
) -> Iterator[Iterator[ParsedChunk]]:
    """Start the parse process and yield an iterator over its chunks; stop it on exit.

    A thread of this process drains the pipe into a short queue, so the child keeps parsing
    while the caller waits on the database (a pipe alone holds only 64 KiB). The queue's bound
    keeps memory flat whatever the file's size. The child may use at most `memory_mb` of
    data memory: a file that needs more fails the import with ImportFailed.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PROJECT_ROOT), env.get("PYTHONPATH")]))
    stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed below, after the child exits
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            __name__,
            str(path),
            default_category,
            str(size),
            str(max_depth),
            str(memory_mb),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env=env,
    )
    frames: queue.Queue = queue.Queue(maxsize=2)

    def pump() -> None:
        try:
            while (frame := _receive(process.stdout)) is not None:
                frames.put(frame)
        except (OSError, ValueError, EOFError, pickle.UnpicklingError):
            pass  # a killed child or a closed pipe: reported as the end of its output
        frames.put(("eof", None))

    def consume() -> Iterator[ParsedChunk]:
        while True:
            kind, value = frames.get()
            if kind == "chunk":
                yield value
                if value.last:
                    return
            elif kind == "memory":
                raise ImportFailed([_out_of_memory(memory_mb)])
            elif kind == "error":
                raise ParseProcessError(f"The parse process failed:\n{value}")
            else:
                code, peak_kb = _reap(process)
                stderr.seek(0)
                tail = stderr.read()[-4000:].decode("utf-8", "replace")
                # Out of memory before it could say so over the pipe: a MemoryError on the way
                # out, or a crash in C code that does not check malloc (yajl), near the cap.
                if "MemoryError" in tail or (code < 0 and peak_kb * 1024 > _cap(memory_mb) / 2):
                    raise ImportFailed([_out_of_memory(memory_mb)])
                raise ParseProcessError(f"The parse process ended early (exit {code}):\n{tail}")

    thread = threading.Thread(target=pump, name="arbiter-import-pipe", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        if process.poll() is None:
            process.kill()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                frames.get(timeout=0.05)
        thread.join()
        process.wait()
        process.stdout.close()
        stderr.close()


def _out_of_memory(memory_mb: int) -> Problem:
    return Problem(
        "file_too_large_to_parse",
        f"The file needs more than {memory_mb} MB to parse (ARBITER_IMPORT_PARSE_MEMORY_MB); "
        "split it, or make its largest records smaller.",
    )


def _reap(process: subprocess.Popen) -> tuple[int, int]:
    """Wait for the child; its exit code and its peak resident memory in KiB."""
    if process.returncode is not None:
        return process.returncode, 0
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_maxrss


def _cap(memory_mb: int) -> int:
    return memory_mb * 1024 * 1024


def _limit_memory(memory_mb: int) -> None:
    """Cap this process's data memory, so no input can take the machine's memory.

    Set after the imports, so the cap bounds what parsing allocates. RLIMIT_DATA counts the
    heap and every private writable mapping (Python's arenas, large allocations), not the
    file the error path maps read-only; the kernel turns an allocation past it into
    MemoryError (or a NULL that C code should check).
    """
    cap = _cap(memory_mb)
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (cap, hard))


def _receive(stream: BinaryIO) -> tuple[str, object] | None:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (length,) = _HEADER.unpack(header)
    payload = stream.read(length)
    if len(payload) < length:
        return None
    # Only ever the output of our own child process, over a pipe nobody else holds.
    return pickle.loads(payload)


def _send(stream: BinaryIO, frame: tuple[str, object]) -> None:
    payload = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(payload)))
    stream.write(payload)


def main(argv: list[str]) -> int:
    path, default_category, size, max_depth, memory_mb = argv
    out = sys.stdout.buffer
    _limit_memory(int(memory_mb))
    try:
        try:
            reader = RecordReader(Path(path), max_depth=int(max_depth))
            chunks = parse_chunks(
                reader, default_category=default_category, size=int(size), as_rows=True
            )
            for chunk in chunks:
                _send(out, ("chunk", chunk))
        except ImportFailed as exc:
            _send(out, ("chunk", ParsedChunk(problems=exc.problems, last=True)))
        except BrokenPipeError:
            raise
        except MemoryError:
            # What failed to fit is garbage now; the small frame that says so fits again.
            _send(out, ("memory", None))
            out.flush()
            return 3
        except Exception:  # reported to the importing process, which raises it
            _send(out, ("error", traceback.format_exc()))
            return 1
        out.flush()
    except BrokenPipeError:
        # The importer stopped reading (it found enough problems, or it was cancelled); point
        # stdout elsewhere so that the interpreter's last flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
