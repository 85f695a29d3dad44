"""One process per output folder: a live owner refuses a second one by name; a dead owner's lock is taken over."""

import json
import socket
import subprocess
import sys

import pytest

from diswm.lock import LOCK_NAME, FolderLockedError, folder_lock

HOLD = "import sys, time; from diswm.lock import folder_lock\nwith folder_lock(sys.argv[1]):\n" \
       "    print('held', flush=True); time.sleep(60)"


def test_a_live_owner_refuses_a_second_process_and_the_lock_goes_with_it(tmp_path):
    owner = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout.readline().strip() == "held"
        with pytest.raises(FolderLockedError, match=f"in use by pid {owner.pid}"), folder_lock(tmp_path):
            pass
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == owner.pid  # the refused one left it alone
    finally:
        owner.kill()
        owner.wait()
    with folder_lock(tmp_path) as path:  # killed (-9) without releasing it: stale, taken over
        assert json.loads(path.read_text())["pid"] != owner.pid
    assert not (tmp_path / LOCK_NAME).exists()  # released on exit


def test_a_lock_whose_pid_now_belongs_to_another_process_is_stale(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": int(dead.stdout), "host": host}))
    with folder_lock(tmp_path):  # its owner exited
        pass
    import os

    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": os.getppid(), "host": host, "process_start": "1"}))
    with folder_lock(tmp_path):  # a live pid, but started at another time than the lock's owner: reused
        pass


def test_a_lock_from_another_host_is_refused_with_how_to_remove_it(tmp_path):
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "elsewhere", "since": "2026-01-01T00:00:00"}))
    with pytest.raises(FolderLockedError, match=f"on host elsewhere .* delete {tmp_path / LOCK_NAME}"), \
            folder_lock(tmp_path):
        pass
    assert (tmp_path / LOCK_NAME).exists()


def test_an_error_in_the_block_releases_the_lock(tmp_path):
    with pytest.raises(KeyError), folder_lock(tmp_path / "new"):
        raise KeyError("boom")
    assert not (tmp_path / "new" / LOCK_NAME).exists()
