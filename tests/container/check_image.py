"""The image used as a user uses it (``make check-image``): built from this checkout with the engine that is here
(docker, else podman with runc), then run with ``--network none`` and named volumes:

1. ``reproduce fig4 --scale smoke --seeds 1 --only reacher_easy:pusher`` (DMC and Pusher) and ``reproduce tableB
   --scale smoke --seeds 1`` (DrawerWorld): each table lands in the volume;
2. a container killed with SIGKILL mid-run, then a new one on the same volume: it resumes with no manual step, and
   its table and final weights equal those of an uninterrupted run in another volume;
3. two containers started together on one cell of a fresh volume: one runs it, the other stops, saying so in one line;
4. ``figures`` draws into the volume; the records name the image's commit; the container runs as uid 1000;
5. the CUDA build's triton and Mesa's EGL in one process on this CPU host (the crash fixed in ``diswm.envs``);
6. bad input: no volume (one warning line), a volume uid 1000 cannot write (one line, exit 2, nothing written), an
   unknown item or task (the same one line as outside the image).

Every container and volume it makes is removed at the end; the image stays (``diswm:latest``, as ``make image``).
``results/image_check/summary.json``: engine, commit, build time, image size and each check's time and outcome.
Exit status 1 when a check fails, 2 when no engine is here or the build fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "results" / "image_check"
VOLUME_PATH = "/work/outputs"
SMOKE_CELL = ["reproduce", "fig4", "--scale", "smoke", "--seeds", "1", "--only", "finger_spin:reacher_easy",
              "--methods", "diswm"]
TRITON_AFTER_RENDER = ("from dm_control import suite; env = suite.load('cheetah', 'run'); "
                       "env.physics.render(64, 64); import triton; print('survived')")
OURS_FIRST = "import diswm.envs; " + TRITON_AFTER_RENDER + "; import torch._dynamo; print('ok')"


class Check:
    def __init__(self, image: str, tag: str):
        self.image, self.tag = image, tag
        self.engine = subprocess.run([str(ROOT / "docker" / "image.sh"), "engine"], capture_output=True, text=True,
                                     check=True).stdout.strip()
        self.env = dict(os.environ)
        if self.engine == "podman":
            self.env.setdefault("CONTAINERS_CONF", str(ROOT / "docker" / "podman-containers.conf"))
        self.built_from = ""  # the image's DISWM_GIT_COMMIT (main sets it)
        self.only: list[str] | None = None
        self.volumes: list[str] = []
        self.containers: list[str] = []
        self.results: list[dict[str, Any]] = []

    # --- the engine -------------------------------------------------------------------------------------------
    def cli(self, *args: str, timeout: float = 1800, check: bool = False) -> subprocess.CompletedProcess:
        done = subprocess.run([self.engine, *args], capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and done.returncode != 0:
            raise RuntimeError(f"{self.engine} {' '.join(args)} failed: {done.stderr.strip()[-2000:]}")
        return done

    def volume(self, purpose: str) -> str:
        name = f"diswm-check-{self.tag}-{purpose}"
        self.cli("volume", "create", name, check=True)
        self.volumes.append(name)
        return name

    def mountpoint(self, volume: str) -> Path:
        return Path(self.cli("volume", "inspect", volume, "--format", "{{.Mountpoint}}", check=True).stdout.strip())

    def run(self, volume: str | None, *argv: str, name: str | None = None, detach: bool = False,
            entrypoint: str | None = None, extra: tuple[str, ...] = (), timeout: float = 1800
            ) -> subprocess.CompletedProcess:
        args = ["run", "--network", "none", *extra]
        args += ["-d"] if detach else ["--rm"]
        if name:
            args += ["--name", name]
            self.containers.append(name)
        if volume:
            args += ["-v", f"{volume}:{VOLUME_PATH}"]
        if entrypoint:
            args += ["--entrypoint", entrypoint]
        return self.cli(*args, self.image, *argv, timeout=timeout)

    def wait(self, name: str, timeout: float = 1800) -> int:
        done = self.cli("wait", name, timeout=timeout, check=True)
        return int(done.stdout.strip().splitlines()[-1])

    def logs(self, name: str) -> str:
        done = self.cli("logs", name)
        return done.stdout + done.stderr

    def cleanup(self) -> None:
        for name in self.containers:
            self.cli("rm", "-f", name)
        for name in self.volumes:
            self.cli("volume", "rm", "-f", name)

    # --- bookkeeping ------------------------------------------------------------------------------------------
    def wanted(self, name: str) -> bool:
        return self.only is None or any(word in name for word in self.only)

    def check(self, name: str, function) -> None:
        if not self.wanted(name):
            return
        started = time.monotonic()
        print(f"[check-image] {name} ...", flush=True)
        try:
            detail = function() or {}
            passed = True
        except AssertionError as failure:
            detail, passed = {"failure": str(failure)[-3000:]}, False
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            detail, passed = {"error": str(error)[-3000:]}, False
        seconds = round(time.monotonic() - started, 1)
        self.results.append({"check": name, "passed": passed, "seconds": seconds, **detail})
        print(f"[check-image] {name}: {'passed' if passed else 'FAILED'} ({seconds} s)"
              + ("" if passed else f"\n{json.dumps(detail, indent=1)}"), flush=True)


def table(check: Check, volume: str, stem: str) -> str:
    path = check.mountpoint(volume) / "results" / f"{stem}.md"
    assert path.is_file(), f"no {path.name} in the volume"
    return path.read_text()


def reproduce_fig4_pusher(check: Check) -> dict:
    volume = check.volume("fig4")
    done = check.run(volume, "reproduce", "fig4", "--scale", "smoke", "--seeds", "1", "--only", "reacher_easy:pusher")
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in table(check, volume, "fig4_smoke").splitlines() if "Pusher" in line or "pusher" in line]
    assert rows and not any("not run" in row for row in rows), rows
    return {"rows": rows, "volume": volume}


def reproduce_table_b(check: Check) -> dict:
    volume = check.volume("tableB")
    done = check.run(volume, "reproduce", "tableB", "--scale", "smoke", "--seeds", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in table(check, volume, "tableB_smoke").splitlines() if "rawer" in line]
    assert rows and not any("not run" in row for row in rows), rows
    return {"rows": rows}


def final_weights(check: Check, volume: str) -> Path:
    found = sorted((check.mountpoint(volume) / "checkpoints" / "finetune").rglob("latest.pt"))
    assert len(found) == 1, found
    return found[0]


def same_weights(first: Path, second: Path) -> bool:
    """Model, actor-critic and evaluation history equal (with this checkout's torch)."""
    code = ("import sys, torch\n"
            "a, b = (torch.load(p, map_location='cpu', weights_only=False) for p in sys.argv[1:])\n"
            "same = all(torch.equal(a[k][n], b[k][n]) for k in ('model', 'behavior') for n in a[k])\n"
            "same = same and a['progress']['eval_history'] == b['progress']['eval_history']\n"
            "print(int(same))")
    python = ROOT / ".venv" / "bin" / "python"
    done = subprocess.run([str(python if python.exists() else sys.executable), "-c", code, str(first), str(second)],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip() == "1"


def killed_container_resumes(check: Check) -> dict:
    reference = check.volume("reference")
    done = check.run(reference, *SMOKE_CELL)
    assert done.returncode == 0, done.stderr[-3000:]
    volume = check.volume("killed")
    name = f"diswm-check-{check.tag}-killed"
    check.run(volume, *SMOKE_CELL, name=name, detach=True)
    checkpoints = check.mountpoint(volume) / "checkpoints" / "finetune"
    deadline = time.monotonic() + 600
    while not any(checkpoints.rglob("latest.pt")):  # killed inside the finetune stage, after its first checkpoint
        assert time.monotonic() < deadline, "no finetune checkpoint within 10 minutes"
        time.sleep(0.5)
    check.cli("kill", "--signal", "KILL", name, check=True)
    status = check.wait(name)
    assert status != 0, "the container finished before it was killed"
    resumed = check.run(volume, *SMOKE_CELL)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "in use by" not in resumed.stderr
    ours, theirs = table(check, volume, "fig4_smoke"), table(check, reference, "fig4_smoke")
    assert ours == theirs, f"tables differ:\n{ours}\n---\n{theirs}"
    assert same_weights(final_weights(check, volume), final_weights(check, reference)), "final weights differ"
    return {"killed_exit_status": status}


def concurrent_containers(check: Check) -> dict:
    volume = check.volume("concurrent")
    names = [f"diswm-check-{check.tag}-together-{i}" for i in (0, 1)]
    for name in names:
        check.run(volume, *SMOKE_CELL, name=name, detach=True)
    statuses = [check.wait(name) for name in names]
    logs = [check.logs(name) for name in names]
    assert sorted(status == 0 for status in statuses) == [False, True], statuses
    refused_index = next(i for i, status in enumerate(statuses) if status != 0)
    refused, runner = logs[refused_index], names[1 - refused_index]
    hostname = check.cli("inspect", runner, "--format", "{{.Config.Hostname}}", check=True).stdout.strip()
    lines = [line for line in refused.splitlines() if "is in use by" in line]
    assert len(lines) == 1 and lines[0].startswith("error: "), refused[-2000:]
    assert f"on host {hostname} since" in lines[0], (hostname, lines[0])  # names the container that runs it
    assert "Traceback" not in refused, refused[-2000:]
    return {"refused_line": lines[0]}


def figures_commit_and_user(check: Check, fig4_volume: str) -> dict:
    done = check.run(fig4_volume, "figures")
    assert done.returncode == 0, done.stderr[-3000:]
    home = check.mountpoint(fig4_volume)
    drawn = sorted(p.name for p in (home / "figures").glob("*.png"))
    assert any(name.startswith("fig4_learning_curves") for name in drawn), drawn
    head = check.built_from  # the commit the image was built from (its build argument)
    commits = {json.loads(info.read_text()).get("git", {}).get("commit")
               for info in (home / "runs").glob("*/[0-9]*/info.json")}
    assert head and head != "unknown" and commits == {head}, (commits, head)
    owners = {path.stat().st_uid for path in home.rglob("*")}
    assert owners == {1000}, owners
    uid = check.run(None, "-u", entrypoint="id").stdout.strip()
    assert uid == "1000", uid
    return {"figures": drawn, "commit": head}


def triton_with_mesa(check: Check) -> dict:
    ours = check.run(None, "-c", OURS_FIRST, entrypoint="python")
    assert ours.returncode == 0 and ours.stdout.split()[-1] == "ok", (ours.returncode, ours.stderr[-2000:])
    bare = check.run(None, "-c", TRITON_AFTER_RENDER, entrypoint="python")  # the bug itself, without our import
    return {"triton_after_a_mesa_render_without_the_fix": f"exit {bare.returncode}"}


def first_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0] if lines else ""


def bad_input(check: Check) -> dict:
    bare = check.run(None, "envs")
    assert bare.returncode == 0, bare.stderr
    assert first_line(bare.stderr).startswith(f"warning: {VOLUME_PATH} is not a volume"), bare.stderr
    assert "-v diswm-outputs:/work/outputs" in bare.stderr

    locked = check.volume("unwritable")
    check.run(locked, entrypoint="true")  # the engine gives a fresh volume the image folder's owner on first use
    mount = check.mountpoint(locked)
    os.chown(mount, 0, 0)
    os.chmod(mount, 0o755)
    refused = check.run(locked, *SMOKE_CELL)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert refused.stderr.startswith(f"error: {VOLUME_PATH} is not writable by uid 1000"), refused.stderr
    assert list(mount.iterdir()) == []

    volume = check.volume("bad")
    inside = check.run(volume, "reproduce", "fig99", "--scale", "smoke")
    python = ROOT / ".venv" / "bin" / "python"
    outside = subprocess.run([str(python if python.exists() else sys.executable), "-m", "diswm_app.cli",
                              "reproduce", "fig99", "--scale", "smoke"], capture_output=True, text=True)
    last = (inside.stderr.strip().splitlines() or [""])[-1]
    assert inside.returncode == outside.returncode != 0, (inside.returncode, outside.returncode)
    assert last == outside.stderr.strip().splitlines()[-1], (last, outside.stderr)
    task = check.run(volume, "finetune", "with", "smoke", "task=nope")
    assert task.returncode != 0 and "task='nope' is not allowed" in task.stderr and "Traceback" not in task.stderr
    return {"unknown_item": last}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default="diswm:latest")
    parser.add_argument("--no-build", action="store_true", help="use the image as it is")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--only", nargs="*", default=None, metavar="WORD",
                        help="run only the checks whose name contains one of these words (default: all)")
    args = parser.parse_args(argv)
    try:
        check = Check(args.image, uuid.uuid4().hex[:6])
    except subprocess.CalledProcessError as error:
        print(f"[check-image] {error.stderr.strip()}", file=sys.stderr)
        return 2
    check.only = args.only
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    summary: dict[str, Any] = {"engine": check.engine, "image": args.image, "commit": head}
    if not args.no_build:
        started = time.monotonic()
        build = subprocess.run([str(ROOT / "docker" / "image.sh"), "build", args.image], env=check.env)
        summary["build_seconds"] = round(time.monotonic() - started, 1)
        if build.returncode != 0:
            print("[check-image] the build failed", file=sys.stderr)
            return 2
    size = check.cli("image", "inspect", args.image, "--format", "{{.Size}}", check=True).stdout.strip()
    env = check.cli("image", "inspect", args.image, "--format", "{{range .Config.Env}}{{println .}}{{end}}",
                    check=True).stdout.split()
    check.built_from = next((v.split("=", 1)[1] for v in env if v.startswith("DISWM_GIT_COMMIT=")), "")
    summary["image_commit"] = check.built_from
    if not args.no_build and check.built_from != head:
        print(f"[check-image] the image says commit {check.built_from}, the checkout is at {head}", file=sys.stderr)
        return 2
    summary["image_size_gb"] = round(int(size) / 1e9, 2)
    try:
        fig4: dict[str, Any] = {}
        check.check("fig4 smoke reacher_easy:pusher (DMC, Pusher)", lambda: fig4.update(reproduce_fig4_pusher(check))
                    or fig4)
        check.check("tableB smoke (DrawerWorld)", lambda: reproduce_table_b(check))
        check.check("killed container resumes to the same table and weights", lambda: killed_container_resumes(check))
        check.check("two containers on one cell: one runs, one says so", lambda: concurrent_containers(check))
        figures = "figures into the volume, records name the commit, uid 1000"
        if "volume" not in fig4 and args.only is not None and check.wanted(figures):
            fig4["volume"] = check.volume("figures")  # a volume with runs in it: one smoke cell
            check.run(fig4["volume"], *SMOKE_CELL)
        if "volume" in fig4:
            check.check(figures, lambda: figures_commit_and_user(check, fig4["volume"]))
        check.check("triton with Mesa's EGL on a CPU host", lambda: triton_with_mesa(check))
        check.check("bad input: one line each", lambda: bad_input(check))
    finally:
        check.cleanup()
    summary["checks"] = check.results
    summary["passed"] = all(result["passed"] for result in check.results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"[check-image] {'all passed' if summary['passed'] else 'FAILED'}: {args.out / 'summary.json'}")
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
