"""Run ``diswm ARGS`` and kill -9 this process at a chosen moment, to test that every stage survives it.

    python tests/experiments/killing_run.py reproduce fig8 --scale smoke ...

Environment:
- ``KILL_AT_WRITE=PATTERN:N:WHEN``: at the N-th atomic write (``diswm.atomic.atomic_writer``) whose target name
  matches the glob PATTERN, SIGKILL itself ``mid`` (half the bytes written to the temporary file) or ``before_rename``
  (the temporary file complete, not yet renamed over the target). The target's name goes to stderr first.
- ``KILL_AT_TRAIN_CALL=N``: SIGKILL itself as the N-th training call of this process (source agent or finetune)
  begins: mid-training, between checkpoints and away from any write (an event, not a wall time, so the
  moment is the same on a fast and a slow machine).
- ``KILL_AFTER_FINAL_CHECKPOINT=1``: SIGKILL itself as soon as a finetune run has saved its final checkpoint
  (before Sacred records the run as completed or flushes its last metrics).
- ``WRITE_LOG=FILE``: append the target of every atomic write to FILE.

The patch is installed before anything imports ``atomic_writer``, so every stage (run in this process by
``reproduce``'s local launcher) writes through it.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import signal
import sys
from pathlib import Path

from diswm import atomic

_original = atomic.atomic_writer
_pattern, _nth, _when = (os.environ.get("KILL_AT_WRITE", "::").split(":") + ["", "", ""])[:3]
_seen = 0


def _die(reason: str) -> None:
    os.write(2, f"\n[killing_run] SIGKILL {reason}\n".encode())  # fd 2: Sacred captures sys.stderr
    os.kill(os.getpid(), signal.SIGKILL)


@contextlib.contextmanager
def _killing_writer(path, mode: str = "wb"):
    global _seen
    name = Path(path).name
    if os.environ.get("WRITE_LOG"):
        with open(os.environ["WRITE_LOG"], "a") as log:
            log.write(f"{path}\n")
    hit = bool(_pattern) and fnmatch.fnmatch(name, _pattern)
    if hit:
        _seen += 1
    with _original(path, mode) as handle:
        if hit and _seen == int(_nth) and _when == "mid":
            handle.write(b"\0" * 64 if "b" in mode else "{\"partial")  # a torn temporary file
            handle.flush()
            _die(f"while writing {path}")
        yield handle
        if hit and _seen == int(_nth) and _when == "before_rename":
            handle.flush()
            _die(f"before renaming the written {path}")


atomic.atomic_writer = _killing_writer
if os.environ.get("KILL_AT_TRAIN_CALL"):
    from diswm.training.finetune import Finetuner

    _train_call = Finetuner._train_call
    _calls = 0

    def _counting_train_call(self) -> None:
        global _calls
        _calls += 1
        if _calls == int(os.environ["KILL_AT_TRAIN_CALL"]):
            _die(f"at training call {_calls} of {self.config.out_dir}")
        _train_call(self)

    Finetuner._train_call = _counting_train_call

if os.environ.get("KILL_AFTER_FINAL_CHECKPOINT"):
    from diswm.training.finetune import Finetuner

    _run = Finetuner.run

    def _run_then_die(self, *args, **kwargs):
        result = _run(self, *args, **kwargs)
        if "/finetune/" in str(self.config.out_dir) and not result["interrupted"]:
            _die(f"after the final checkpoint of {self.config.out_dir}")
        return result

    Finetuner.run = _run_then_die

if __name__ == "__main__":
    from diswm_app.cli import main

    sys.exit(main(sys.argv[1:]))
