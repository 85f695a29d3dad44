"""docker/compose.yaml brought up for real (``make check-compose``): MongoDB, Omniboard built from its Dockerfile,
and a reproduce container recording into MongoDB; then headless Chromium against that stack's Omniboard lists the
runs the container recorded, by name, with our columns, and plots one finetune run's eval_return.

The engine is ``docker compose`` where a Docker engine runs, else Debian's podman-compose against podman (runc).
No MongoDB server can be installed here, so ``docker/compose.check.yaml`` (this check's override alone; the user's
file keeps mongo:4.4) puts the wire-protocol double ``tests.omniboard.mongo_wire`` in the mongo service, in a
container. Everything runs in the check's own compose project (its own network and volumes) and on loopback
(Omniboard on 127.0.0.1:9000, the double on 127.0.0.1:27017, as compose publishes them); ``down -v`` removes it all.
The images ``diswm:latest`` and ``diswm-omniboard:2.16.1`` are built first (``docker/image.sh``) unless
``--no-build``. Results, screenshots and ``summary.json`` in ``results/compose_check/``; exit 1 when a check fails,
2 when the set-up fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.omniboard.check_omniboard import (  # noqa: E402
    SetupError,
    browse,
    ensure_packages,
    expected,
    judge,
    missing_tool,
)

PROJECT = "diswm-check"
FILES = ["-f", str(ROOT / "docker" / "compose.yaml"), "-f", str(ROOT / "docker" / "compose.check.yaml")]
OUT = ROOT / "results" / "compose_check"


def compose_command(env: dict[str, str]) -> list[str]:
    engine = subprocess.run([str(ROOT / "docker" / "image.sh"), "engine"], capture_output=True, text=True,
                            env=env).stdout.strip()
    if engine == "docker":
        return ["docker", "compose"]
    if shutil.which("podman-compose"):
        return ["podman-compose"]
    raise SetupError("no compose: install docker compose, or podman-compose (Debian: apt-get install podman-compose)")


def answers(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(url, timeout=2).close()
        return True
    except (urllib.error.URLError, OSError):
        return False


def wait_for(what: str, test, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = test()
        if value:
            return value
        time.sleep(1)
    raise SetupError(f"{what}: not within {timeout:g} s")


def run_check(out: Path, timeout: float, build: bool) -> dict[str, Any]:
    import pymongo

    from diswm_app.experiments.omniboard import CONFIG_COLUMNS, METRIC_COLUMNS_SPEC

    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(ROOT / "docker" / "podman-containers.conf"))
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    env["DISWM_GIT_COMMIT"] = head
    compose = [*compose_command(env), "-p", PROJECT, *FILES]
    summary: dict[str, Any] = {"compose": compose[0], "commit": head}
    if build:
        for what in ("build", "omniboard"):
            started = time.monotonic()
            if subprocess.run([str(ROOT / "docker" / "image.sh"), what], env=env).returncode != 0:
                raise SetupError(f"docker/image.sh {what} failed")
            summary[f"{what}_seconds"] = round(time.monotonic() - started, 1)
    subprocess.run([*compose, "down", "-v"], capture_output=True, env=env, cwd=ROOT)  # a previous check's leftovers
    client = None
    try:
        started = time.monotonic()
        up = subprocess.run([*compose, "up", "-d", "--no-build", "mongo", "omniboard", "reproduce"],
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
        (out / "compose_up.log").write_text(up.stdout + up.stderr)
        if up.returncode != 0:
            raise SetupError(f"compose up exited {up.returncode}: {up.stderr.strip()[-1500:]}")
        engine = "docker" if compose[0] == "docker" else "podman"
        names = subprocess.run([engine, "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True,
                               env=env).stdout.split()
        reproduce = next(name for name in names if name.startswith(PROJECT) and "reproduce" in name)
        status = subprocess.run([engine, "wait", reproduce], capture_output=True, text=True, env=env,
                                timeout=timeout * 20).stdout.strip().splitlines()[-1]
        logs = subprocess.run([engine, "logs", reproduce], capture_output=True, text=True, env=env)
        (out / "reproduce.log").write_text(logs.stdout + logs.stderr)
        summary["reproduce_seconds"] = round(time.monotonic() - started, 1)
        if status != "0":
            raise SetupError(f"the reproduce container exited {status}; see {out / 'reproduce.log'}")

        client = pymongo.MongoClient("mongodb://127.0.0.1:27017/sacred", serverSelectionTimeoutMS=10_000)
        db = client["sacred"]
        want = expected(db)
        columns = [*CONFIG_COLUMNS, *METRIC_COLUMNS_SPEC]
        summary.update(recorded_runs=len(want["runs"]), plotted_run=want["run_id"],
                       run_names=sorted(run["name"] for run in want["runs"].values()))
        wait_for("Omniboard answering on 127.0.0.1:9000", lambda: answers("http://127.0.0.1:9000/sacred"), timeout)
        seen = browse("http://127.0.0.1:9000", out, want, columns, timeout)
        checks = judge(seen, want, columns)
        checks.insert(0, {"check": "the reproduce container recorded its runs into the stack's MongoDB",
                          "ok": any(run["name"].startswith("finetune diswm") for run in want["runs"].values()),
                          "detail": summary["run_names"]})
        summary.update(browser_version=seen.get("browser_version"), checks=checks,
                       passed=all(item["ok"] for item in checks))
    finally:
        if client is not None:
            client.close()
        down = subprocess.run([*compose, "down", "-v"], capture_output=True, text=True, env=env, cwd=ROOT)
        (out / "compose_down.log").write_text(down.stdout + down.stderr)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.container.check_compose", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds for each wait (start-up, page)")
    parser.add_argument("--no-build", action="store_true", help="use the images as they are")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for stale in ("browser.json", "summary.json"):
        (args.out / stale).unlink(missing_ok=True)
    missing = missing_tool()
    if missing:
        print(f"[compose-check] {missing}", file=sys.stderr)
        return 2
    try:
        ensure_packages()
        summary = run_check(args.out, args.timeout, build=not args.no_build)
    except SetupError as error:
        print(f"[compose-check] set-up failed: {error}", file=sys.stderr)
        (args.out / "summary.json").write_text(json.dumps({"passed": False, "setup_error": str(error)}, indent=1))
        return 2
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    for item in summary["checks"]:
        print(f"[compose-check] {'ok  ' if item['ok'] else 'FAIL'} {item['check']}")
    print(f"[compose-check] {'all passed' if summary['passed'] else 'FAILED'}: {args.out / 'summary.json'}")
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
