"""One process per output folder: an advisory lock held by the kernel (``flock`` on ``<folder>/.lock``), released
when its holder exits however it exits, with the holder's name written in the file for the message.

Two processes writing one checkpoint folder would each "complete" while the last writer's ``latest.pt`` wins;
:func:`folder_lock` makes the second one stop with a message naming the first. The kernel, not a pid record,
says whether the holder lives, so a lock is never stale: a process killed with ``kill -9``, a container killed
by its engine, or a machine that went down (on NFS, once its lease ends) leaves nothing to delete by hand, and
this holds across containers and hosts that share the volume (a pid and hostname mean nothing in the next
container). The file stays in the folder between runs; the owner written in it is that of the current holder
(or empty when none holds it).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = ".lock"


class FolderLockedError(RuntimeError):
    """Another live process holds the folder."""


def _owner() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%dT%H:%M:%S")}


def _describe(handle) -> str:
    """Who holds the lock, from what it wrote (it may be writing this very moment: then only that it is held)."""
    try:
        handle.seek(0)
        owner = json.loads(handle.read() or "{}")
    except (OSError, ValueError):
        owner = {}
    if not isinstance(owner, dict) or "pid" not in owner:
        return "another process (starting at this moment)"
    return f"pid {owner['pid']} on host {owner.get('host')} since {owner.get('since')}"


def lock_holder(folder: Path | str) -> str | None:
    """Who holds ``folder``'s lock now (for a status line), or None when nobody does."""
    path = Path(folder) / LOCK_NAME
    if not path.is_file():
        return None
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EAGAIN, errno.EACCES):
                return _describe(handle)
            raise
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


@contextlib.contextmanager
def folder_lock(folder: Path | str) -> Iterator[Path]:
    """Hold ``folder/.lock`` for the block (the folder is created); raise :class:`FolderLockedError`, naming the
    holder, if another process (or another ``folder_lock`` of this one) holds it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    handle = open(path, "a+")  # noqa: SIM115 - held open for the block: closing it would release the lock
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EAGAIN, errno.EACCES):
                raise FolderLockedError(f"{folder} is in use by {_describe(handle)}; wait for it or stop it") \
                    from None
            raise
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(_owner()))
        handle.flush()
        try:
            yield path
        finally:
            handle.seek(0)
            handle.truncate()  # nobody holds it now
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()
