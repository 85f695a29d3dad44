"""One process per output folder: the kernel holds the lock (flock), so a live holder refuses a second process by
name, and a holder that dies however it dies (kill -9, another container's engine) leaves nothing to remove."""

import json
import shutil
import signal
import subprocess
import sys

import pytest

from diswm.lock import LOCK_NAME, FolderLockedError, folder_lock, lock_holder

HOLD = "import sys, time; from diswm.lock import folder_lock\nwith folder_lock(sys.argv[1]):\n" \
       "    print('held', flush=True); time.sleep(60)"


def hold(folder, prefix=()) -> subprocess.Popen:
    owner = subprocess.Popen([*prefix, sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert owner.stdout.readline().strip() == "held"
    return owner


def test_a_live_holder_refuses_a_second_process_and_a_killed_one_leaves_nothing_to_remove(tmp_path):
    owner = hold(tmp_path)
    try:
        with pytest.raises(FolderLockedError, match=f"in use by pid {owner.pid} on host "), folder_lock(tmp_path):
            pass
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == owner.pid  # the refused one left it alone
        assert lock_holder(tmp_path).startswith(f"pid {owner.pid} ")
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    assert lock_holder(tmp_path) is None  # the kernel released it with the process
    with folder_lock(tmp_path) as path:
        assert json.loads(path.read_text())["pid"] != owner.pid
    assert (tmp_path / LOCK_NAME).read_text() == ""  # released: no holder named


def test_what_a_dead_holder_wrote_does_not_lock_the_folder(tmp_path):
    """A record left by a process of another container or host (another hostname, a pid that means nothing here)
    is not a lock: only a live holder is."""
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "container-a1b2", "since": "2026-01-01T00:00:00"}))
    with folder_lock(tmp_path):
        pass


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare")
def test_a_holder_in_another_pid_and_host_namespace_is_named_and_its_death_frees_the_folder(tmp_path):
    """As two containers on one volume: the holder runs as pid 1 of its own pid namespace under another hostname."""
    probe = subprocess.run(["unshare", "--uts", "--pid", "--fork", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make namespaces here: {probe.stderr.decode().strip()}")
    prefix = ["unshare", "--uts", "--pid", "--fork", "--kill-child", "sh", "-c", 'hostname container-b; exec "$@"', "-"]
    owner = hold(tmp_path, prefix)
    try:
        with pytest.raises(FolderLockedError, match="in use by pid 1 on host container-b since"), \
                folder_lock(tmp_path):
            pass
    finally:
        owner.send_signal(signal.SIGKILL)  # unshare dies, and --kill-child takes the holder with it
        owner.wait()
    for _ in range(50):
        if lock_holder(tmp_path) is None:
            break
        import time

        time.sleep(0.1)
    with folder_lock(tmp_path):  # no manual step
        pass


def test_a_second_lock_in_the_same_process_is_refused(tmp_path):
    with folder_lock(tmp_path), pytest.raises(FolderLockedError, match="in use by pid"), folder_lock(tmp_path):
        pass


def test_an_error_in_the_block_releases_the_lock(tmp_path):
    with pytest.raises(KeyError), folder_lock(tmp_path / "new"):
        raise KeyError("boom")
    assert lock_holder(tmp_path / "new") is None
    with folder_lock(tmp_path / "new"):
        pass
