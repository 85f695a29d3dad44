"""One process per output folder: a lock file naming its owner (pid, host, process start), stale locks taken over.

Two processes writing one checkpoint folder would each "complete" while the last writer's ``latest.pt`` wins;
:func:`folder_lock` makes the second one stop with a message naming the first. A lock left by a killed process
(``kill -9``, a crashed machine) is stale when its owner ran on this host and is no longer alive (or its pid now
belongs to a later process); a lock from another host cannot be checked from here, so the message says how to
remove it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = ".lock"


class FolderLockedError(RuntimeError):
    """Another live process owns the folder."""


def _process_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (Linux ``/proc``), to tell a reused pid from the lock's owner."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(owner: dict) -> bool:
    pid = owner.get("pid")
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    started = owner.get("process_start")
    return started is None or _process_start(pid) in (None, started)


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return float("inf")


def _owner() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "process_start": _process_start(os.getpid()),
            "since": time.strftime("%Y-%m-%dT%H:%M:%S")}


def _read(path: Path) -> dict:
    try:
        owner = json.loads(path.read_text())
        return owner if isinstance(owner, dict) else {}
    except (OSError, ValueError):  # half-written by a process killed between create and write: stale
        return {}


@contextlib.contextmanager
def folder_lock(folder: Path | str) -> Iterator[Path]:
    """Hold ``folder/.lock`` for the block (the folder is created); raise :class:`FolderLockedError` if a live
    process holds it. A stale lock (owner dead on this host, or unreadable) is replaced."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    me = _owner()
    for _ in range(2):  # the second try follows the removal of a stale lock
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _read(path)
            if not owner and _age(path) < 5.0:  # being written by a process that has just created it
                raise FolderLockedError(f"{folder} is being locked by another process at this moment") from None
            if owner.get("host") not in (None, me["host"]):
                raise FolderLockedError(
                    f"{folder} is in use by pid {owner.get('pid')} on host {owner.get('host')} since "
                    f"{owner.get('since')}; if that run is gone, delete {path}") from None
            if owner and _alive(owner):
                raise FolderLockedError(f"{folder} is in use by pid {owner['pid']} (since {owner.get('since')}); "
                                        "wait for it or stop it") from None
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # stale: its owner died without releasing it
            continue
        with os.fdopen(descriptor, "w") as handle:
            json.dump(me, handle)
        break
    else:
        raise FolderLockedError(f"{folder}: another process took {path} at the same moment; try again")
    try:
        yield path
    finally:
        if _read(path).get("pid") == me["pid"]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
