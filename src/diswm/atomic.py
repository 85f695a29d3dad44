"""Atomic file writes: a crash leaves either the old file or the new one, never a partial one; an interrupt
(SIGINT, SIGTERM) that arrives during a write is delivered right after it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

_UMASK = os.umask(0)
os.umask(_UMASK)


#: the signals that stop a run (Ctrl-C; ``timeout``, Ray, Docker): held back while a file is written
DEFERRED_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM are held and delivered, in order, as it ends. Without it, an
    interrupt raised inside ``torch.save`` left its zip writer to fail while unwinding, and the run was recorded
    as FAILED, not INTERRUPTED. Python runs signal handlers in the main thread only, so only there is there
    anything to hold (a blocked signal mask would not do: the kernel hands a process signal to another thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {signum: signal.getsignal(signum) for signum in DEFERRED_SIGNALS}
    for signum, handler in previous.items():
        if handler is not None:  # None: a handler not installed from Python, left alone
            signal.signal(signum, lambda number, frame: held.append(number))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            if handler is not None:
                signal.signal(signum, handler)
        for signum in dict.fromkeys(held):
            signal.raise_signal(signum)  # to the handler that was there before the write


@contextlib.contextmanager
def atomic_writer(path: Path | str, mode: str = "wb") -> Iterator[IO]:
    """Yield a handle to a temporary file beside ``path``; on success fsync and rename it over ``path``.
    Interrupts wait until the file is in place (:func:`interrupts_deferred`)."""
    with interrupts_deferred():
        with _atomic_writer(path, mode) as handle:
            yield handle


@contextlib.contextmanager
def _atomic_writer(path: Path | str, mode: str) -> Iterator[IO]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path | str, payload: Any) -> None:
    with atomic_writer(path, "w") as handle:
        json.dump(payload, handle, indent=1)
