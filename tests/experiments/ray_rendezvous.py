"""A Ray worker set-up hook for tests: every finetune run, before it starts, waits until ``$RENDEZVOUS_COUNT`` runs
(in any worker) have reached that point, so runs that Ray does not run side by side never start at all (the
waiting one fails after ``$RENDEZVOUS_TIMEOUT`` seconds). Proves parallelism without measuring time."""

from __future__ import annotations

import os
import time
from pathlib import Path


def install() -> None:
    from diswm.training.finetune import Finetuner

    original = Finetuner.run

    def run_after_rendezvous(self, *args, **kwargs):
        folder = Path(os.environ["RENDEZVOUS_DIR"])
        (folder / f"{os.getpid()}-{id(self)}").touch()
        deadline = time.monotonic() + float(os.environ.get("RENDEZVOUS_TIMEOUT", "600"))
        while len(list(folder.iterdir())) < int(os.environ["RENDEZVOUS_COUNT"]):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the other runs never started beside this one ({folder})")
            time.sleep(0.2)
        return original(self, *args, **kwargs)

    Finetuner.run = run_after_rendezvous
