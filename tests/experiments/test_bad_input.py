"""Bad values at the command line: one line naming the value and the allowed ones, nothing written."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def diswm(tmp_path, *argv):
    env = {**os.environ, "DISWM_HOME": str(tmp_path), "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    return subprocess.run([sys.executable, "-m", "diswm_app.cli", *argv], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("argv, named", [
    (("finetune", "with", "dreamerv2", "smoke", "task=walker_wlak"), "task='walker_wlak'"),
    (("finetune", "with", "dreamerv2", "smoke", "source=bogus"), "source='bogus'"),
    (("finetune", "with", "smoke", "method=bogus"), "method='bogus'"),
    (("finetune", "with", "diswm", "smoke", "z_dim=0"), "z_dim=0"),
    (("pretrain", "with", "finger_spin", "smoke", "z_dim=0"), "z_dim=0"),
    (("collect", "with", "task=cheetah", "smoke"), "task='cheetah'"),
    (("source_agent", "with", "finger_spin", "scale=huge"), "scale='huge'"),
])
@pytest.mark.slow
def test_a_bad_value_is_one_line_naming_it_and_nothing_is_written(tmp_path, argv, named):
    result = diswm(tmp_path, *argv)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip() and "Warning" not in line
             and "import pkg_resources" not in line]
    assert len(lines) == 1 and named in lines[0] and "expected" in lines[0], result.stderr
    assert not any(p for p in tmp_path.rglob("*") if p.is_file()), sorted(tmp_path.rglob("*"))
