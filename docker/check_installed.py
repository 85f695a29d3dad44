"""Fail the image build when what pip installed is not exactly docker/image.lock (a name or version more, less or
other): ``python check_installed.py image.lock``. pip itself, which the venv brings, is not in the lock."""

from __future__ import annotations

import re
import sys
from importlib import metadata


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(path: str) -> dict[str, str]:
    pins = {}
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split()[0].split("==")
            pins[canonical(name)] = version
    return pins


def installed(skip: set[str]) -> dict[str, str]:
    found = {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}
    return {name: version for name, version in found.items() if name not in skip}


def main(path: str) -> int:
    want, have = locked(path), installed({"pip"})
    differences = sorted(f"{name}: locked {want.get(name)}, installed {have.get(name)}"
                         for name in want.keys() | have.keys() if want.get(name) != have.get(name))
    if differences:
        print("the image differs from docker/image.lock:\n  " + "\n  ".join(differences), file=sys.stderr)
        return 1
    print(f"installed = docker/image.lock ({len(want)} packages)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
