"""docker/slurm/ray_reproduce.sbatch: its shell syntax, its SLURM header, and the reproduce command it runs
(printed by DRY_RUN=1) accepted by `diswm reproduce` itself."""

import shlex
import subprocess
from pathlib import Path

from diswm_app.cli import main

SCRIPT = Path(__file__).resolve().parents[1] / "docker" / "slurm" / "ray_reproduce.sbatch"


def dry_run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "DRY_RUN": "1", **env})


def test_the_script_parses_and_asks_slurm_for_nodes():
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0
    header = [line for line in SCRIPT.read_text().splitlines() if line.startswith("#SBATCH")]
    assert "#SBATCH --nodes=3" in header and any(line.startswith("#SBATCH --time=") for line in header)


def test_it_starts_a_head_then_workers_then_reproduces_against_the_head(tmp_path, capsys):
    done = dry_run("fig4", "--scale", "smoke", "--seeds", "1", "--only", "finger_spin:reacher_easy",
                   DISWM_HOME=str(tmp_path))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    starts = [line for line in lines if " ray start " in line]
    assert "--head" in starts[0] and all("--address=10.0.0.1:6379" in line for line in starts[1:])
    (command,) = [line for line in lines if line.startswith("diswm reproduce ")]
    argv = shlex.split(command)[1:]
    assert argv[:5] == ["reproduce", "fig4", "--launcher", "ray", "--address"]
    assert main([*argv, "--dry-run"]) == 0  # the very command, as diswm parses it
    assert "would run: diswm" in capsys.readouterr().out


def test_without_a_shared_home_it_stops_in_one_line():
    done = dry_run("fig4")
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.strip().endswith("DISWM_HOME: set DISWM_HOME to a folder on storage every node shares")
