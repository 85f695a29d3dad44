"""bench.official_step: our train step against the released code's, each side in its own process, alternating."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import official_step

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_sides_alternate_in_fresh_processes_and_the_medians_give_the_ratio(tmp_path, capsys):
    out = tmp_path / "step.json"
    assert official_step.main(["--sides", "ours,ours", "--batch", "2", "--length", "4", "--steps", "2",
                               "--rounds", "2", "--threads", "1", "--out", str(out)]) == out
    result = json.loads(out.read_text())
    printed = [line for line in capsys.readouterr().out.splitlines() if "round" in line]
    assert printed == [f"[official-step] round {r}/2: ours B=2 L=4" for r in (1, 1, 2, 2)]
    first, second = result["step_s"]["0:ours"], result["step_s"]["1:ours"]
    assert len(first) == len(second) == 4 and all(t > 0 for t in first + second)  # 2 rounds x 2 steps per side
    medians = result["median_step_s"]
    assert result["ratio"] == pytest.approx(medians["1:ours"] / medians["0:ours"])
    assert result["threads"] == 1 and result["released_commit"] is None


def test_without_a_released_checkout_it_says_so_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench.official_step", "--official", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith(
        f"--official {tmp_path}: not a checkout of the released code (no dreamer.py); clone github.com/qiwang067/DisWM")
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("DISWM_OFFICIAL"), reason="DISWM_OFFICIAL: a checkout of the released code")
def test_against_the_released_code(tmp_path):
    out = tmp_path / "step.json"
    official_step.main(["--official", os.environ["DISWM_OFFICIAL"], "--batch", "2", "--length", "8", "--steps", "1",
                        "--rounds", "1", "--out", str(out)])
    result = json.loads(out.read_text())
    assert result["sides"] == ["ours", "released"] and len(result["step_s"]["1:released"]) == 1
