"""The wheel is the artifact outside a checkout (the image installs it): built from the tracked files alone,
installed non-editable into a fresh environment, it runs a smoke chain to a table with every module of ours
imported from the installed wheel (issue 25: a package left out of the wheel once shipped no training code)."""

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CHAIN = r"""
import json, sys
from diswm_app.cli import main

chain = [
    ["source_agent", "with", "finger_spin", "smoke"],
    ["pretrain", "with", "finger_spin", "smoke"],
    ["finetune", "with", "diswm", "smoke", "source=finger_spin", "task=reacher_easy"],
    ["reproduce", "fig4", "--scale", "smoke", "--seeds", "1", "--only", "finger_spin:reacher_easy",
     "--methods", "diswm", "dreamerv2"],
]
codes = []
for argv in chain:
    try:
        codes.append(main(argv))
    except SystemExit as stop:
        codes.append(stop.code)
ours = {name: getattr(module, "__file__", None) for name, module in sys.modules.items()
        if name.split(".")[0] in ("diswm", "diswm_app")}
print("RESULT " + json.dumps({"codes": codes, "modules": ours}))
"""


@pytest.mark.slow
def test_the_wheel_alone_runs_a_smoke_chain_to_a_table(tmp_path):
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True).stdout
    source = tmp_path / "source"
    for name in filter(None, tracked.decode().split("\0")):
        if (ROOT / name).is_file():  # a file deleted in the work tree is not built
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((ROOT / name).read_bytes())
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(dist), str(source)], check=True, cwd=tmp_path)
    wheel = next(dist.glob("diswm-*.whl"))
    listing = subprocess.run([sys.executable, "-m", "zipfile", "-l", str(wheel)], capture_output=True, text=True,
                             check=True).stdout
    for inside in ("diswm/training/finetune.py", "diswm_app/experiments/finetune.py",
                   "diswm_app/paper_figures/fig4_learning_curves.py", "diswm_app/paper_numbers.json",
                   "diswm_app/experiments/cpu_control.sh"):
        assert inside in listing, f"{inside} is not in the wheel"
    assert "experiments/__init__.py" not in listing.replace("diswm_app/experiments/__init__.py", "")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--no-index", str(wheel)], check=True)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # the dependencies: this environment's packages on the path, after the wheel; its .pth files (the editable
    # install's finder among them) are not run, so nothing of the checkout is importable
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DISWM_RUNS_DIR")}
    env.update({"DISWM_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    done = subprocess.run([str(python), "-c", CHAIN], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.split("RESULT ", 1)[1])
    assert result["codes"] == [0, 0, 0, 0], done.stderr[-3000:]
    outside = {name: path for name, path in result["modules"].items() if path and not path.startswith(str(site))}
    assert outside == {} and "diswm.training.finetune" in result["modules"]
    table = (tmp_path / "home" / "results" / "fig4_smoke.md").read_text()
    assert "Finger Spin" in table or "finger_spin" in table
    script = subprocess.run([str(venv / "bin" / "diswm"), "envs"], capture_output=True, text=True, env=env)
    assert script.returncode == 0 and "reacher_easy" in script.stdout
