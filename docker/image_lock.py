"""The image lock (``make image-lock``): every package the CUDA image installs, pinned with its sha256, resolved
from environment.lock with torch swapped for the CUDA build of the same version (``image_requirements.sh``).

    python docker/image_lock.py > docker/image.lock

pip resolves the list against PyPI alone (this machine's local wheel folders and mirrors are left out, so the
hashes are PyPI's files, the ones a build anywhere downloads) without installing anything (``--dry-run
--report``), here: Linux x86_64, CPython 3.11 and glibc 2.36, as Debian bookworm and so the image. The Dockerfile
installs the file with ``--require-hashes`` and ``docker/check_installed.py`` fails the build when what is
installed differs from it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

DOCKER = Path(__file__).resolve().parent
ROOT = DOCKER.parent
HEADER = """\
# docker/image.lock: every package of the CUDA image, pinned with its sha256 (PyPI's files), for
# `pip install --require-hashes` in the Dockerfile. Made by `make image-lock` (docker/image_lock.py) from
# environment.lock, torch swapped for the CUDA build of the same version; do not edit by hand.
"""


def image_requirements() -> str:
    with open(ROOT / "environment.lock") as lock:
        return subprocess.run(["sh", str(DOCKER / "image_requirements.sh")], stdin=lock, capture_output=True,
                              text=True, check=True).stdout


def resolve(requirements: str) -> list[dict]:
    """pip's installation report for ``requirements`` on PyPI alone (nothing is installed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k in ("PIP_CERT", "PIP_DEFAULT_TIMEOUT")}
    env["PIP_CONFIG_FILE"] = os.devnull  # no local mirrors, wheel folders or constraints: PyPI's files only
    with tempfile.TemporaryDirectory() as tmp:
        reqs, report = Path(tmp) / "requirements.txt", Path(tmp) / "report.json"
        reqs.write_text(requirements)
        subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                        "--disable-pip-version-check", "--only-binary=:all:", "--report", str(report),
                        "-r", str(reqs)], check=True, env=env)
        return json.loads(report.read_text())["install"]


def lock_lines(installs: list[dict]) -> list[str]:
    lines = []
    for item in sorted(installs, key=lambda i: i["metadata"]["name"].lower()):
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        hashes = item["download_info"].get("archive_info", {}).get("hashes") or {}
        if "sha256" not in hashes:
            raise SystemExit(f"no sha256 for {name} {version} from {item['download_info'].get('url')}")
        lines.append(f"{name}=={version} --hash=sha256:{hashes['sha256']}")
    return lines


def main() -> int:
    lines = lock_lines(resolve(image_requirements()))
    sys.stdout.write(HEADER + "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
