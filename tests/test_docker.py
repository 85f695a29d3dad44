"""Static checks of the container set-up (no Docker engine needed), plus the Omniboard loopback preload."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
PRELOAD = DOCKER / "omniboard-loopback.js"


def dockerfile_instructions(path):
    """(INSTRUCTION, arguments) pairs, with comments dropped and line continuations joined."""
    instructions, current = [], ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):  # comment inside a continued instruction
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        keyword, _, args = current.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        current = ""
    assert not current, f"{path.name} ends inside a line continuation"
    return instructions


def exec_form(args):
    """A JSON-array argument (exec form), or None for shell form."""
    if args.startswith("["):
        return json.loads(args)
    return None


def env_vars(instructions):
    env = {}
    for keyword, args in instructions:
        if keyword != "ENV":
            continue
        tokens = shlex.split(args)
        if tokens and "=" not in tokens[0]:  # legacy `ENV KEY value`
            env[tokens[0]] = " ".join(tokens[1:])
        else:
            env.update(token.split("=", 1) for token in tokens)
    return env


def copy_sources(instructions):
    """Source paths of COPY/ADD from the build context (multi-stage `--from=` copies excluded)."""
    sources = []
    for keyword, args in instructions:
        if keyword not in ("COPY", "ADD"):
            continue
        form = exec_form(args)
        tokens = form if form is not None else shlex.split(args)
        flags = [t for t in tokens if t.startswith("--")]
        if any(f.startswith("--from=") for f in flags):
            continue
        paths = [t for t in tokens if not t.startswith("--")]
        assert len(paths) >= 2, f"{keyword} {args!r} needs a source and a destination"
        sources += paths[:-1]
    return sources


def dockerignore_regex(pattern):
    """Docker's .dockerignore matching (Go filepath.Match plus `**`), anchored at the context root."""
    pattern = pattern.strip("/")
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            if pattern.startswith("/", i):  # `**/` also matches nothing
                out = out[:-2] + "(.*/)?"
                i += 1
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    # A pattern that matches a directory excludes everything below it.
    return re.compile(out + "(/.*)?")


def is_ignored(relpath, patterns):
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if dockerignore_regex(pattern.lstrip("!")).fullmatch(relpath):
            ignored = not negated
    return ignored


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def dockerfile():
    return dockerfile_instructions(ROOT / "Dockerfile")


@pytest.fixture(scope="module")
def ignore_patterns():
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


# ---- docker/compose.yaml ----


def test_compose_services(compose):
    assert {"mongo", "omniboard", "reproduce", "diswm"} <= set(compose["services"])


def test_compose_ports_loopback_only(compose):
    published = 0
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert isinstance(port, str), f"{name}: use the short 'IP:HOST:CONTAINER' syntax, got {port!r}"
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port!r} beyond loopback"
            published += 1
    assert published >= 2  # mongo and omniboard


def test_compose_named_volumes(compose):
    declared = set(compose.get("volumes") or {})
    assert {"mongo-data", "diswm-outputs"} <= declared
    # without an explicit name compose prefixes the project ("diswm_diswm-outputs"), and the README's
    # `docker run -v diswm-outputs:/work/outputs` would see another volume than the compose services
    assert compose["volumes"]["diswm-outputs"]["name"] == "diswm-outputs"
    readme = (ROOT / "README.md").read_text()
    assert "-v diswm-outputs:/work/outputs" in readme
    mounts = {
        name: {v.split(":")[0]: v.split(":")[1] for v in s.get("volumes", [])}
        for name, s in compose["services"].items()
    }
    assert mounts["mongo"].get("mongo-data") == "/data/db"
    assert mounts["diswm"].get("diswm-outputs") == "/work/outputs"
    assert mounts["reproduce"].get("diswm-outputs") == "/work/outputs"
    for service_mounts in mounts.values():
        for source in service_mounts:
            if not source.startswith((".", "/", "~")):
                assert source in declared, f"named volume {source!r} is not declared"


def test_compose_mongo_version(compose):
    image = compose["services"]["mongo"]["image"]
    name, _, tag = image.partition(":")
    assert name == "mongo" and tag, f"mongo image must be pinned to a tag, got {image!r}"
    version = tuple(int(x) for x in re.match(r"\d+(?:\.\d+)*", tag).group().split("."))
    assert version >= (4, 4)


def test_compose_omniboard(compose):
    omniboard = compose["services"]["omniboard"]
    assert (DOCKER / omniboard["build"]["context"] / omniboard["build"]["dockerfile"]).resolve() == (
        DOCKER / "omniboard.Dockerfile"
    )
    assert "mongo:27017:sacred" in " ".join(omniboard["command"])
    assert "mongo" in omniboard["depends_on"]


def test_compose_diswm_service(compose):
    diswm = compose["services"]["diswm"]
    assert diswm["environment"]["DISWM_MONGO_URL"] == "mongodb://mongo:27017/sacred"
    assert (DOCKER / diswm["build"]["context"]).resolve() == ROOT
    assert (ROOT / diswm["build"].get("dockerfile", "Dockerfile")).resolve() == ROOT / "Dockerfile"
    assert "run" in diswm["profiles"]  # a plain `docker compose up` starts mongo + omniboard only
    devices = diswm["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)


def compose_defaults(argument: str) -> str:
    """Compose's interpolation of ``${NAME:-default}`` with NAME unset."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", argument)


def test_compose_reproduce_service_runs_a_valid_reproduce_into_mongo(compose, dockerfile, tmp_path, monkeypatch,
                                                                        capsys):
    """`up` starts a reproduce that records into the compose MongoDB and writes to the image's DISWM_HOME,
    and its command (entrypoint `diswm`) is one our CLI accepts: a dry run plans every stage of it."""
    from diswm_app.cli import main as diswm_main

    service = compose["services"]["reproduce"]
    assert "profiles" not in service  # started by a plain `docker compose up`
    assert service["environment"]["DISWM_MONGO_URL"] == "mongodb://mongo:27017/sacred"
    assert service["depends_on"]["mongo"]["condition"] == "service_healthy"
    assert service["restart"] == "no"  # one reproduction, then the container exits
    env = dict(arg.split("=", 1) for keyword, args in dockerfile if keyword == "ENV" for arg in args.split())
    assert f"diswm-outputs:{env['DISWM_HOME']}" in service["volumes"]
    assert exec_form(dict(dockerfile)["ENTRYPOINT"])[-1] == "diswm-entrypoint"  # which execs diswm
    argv = [compose_defaults(a) for a in shlex.split(service["command"])]
    assert argv[0] == "reproduce" and "paper" not in argv  # the default is a quick smoke reproduction
    monkeypatch.setenv("DISWM_HOME", str(tmp_path))
    assert diswm_main([*argv, "--dry-run"]) == 0
    planned = capsys.readouterr().out
    assert planned.count("would run: diswm finetune") == 24  # Fig. 4: 6 pairs x 4 methods, one seed
    assert "would run: diswm pretrain" in planned and "would run: diswm source_agent" in planned
    assert "would run: diswm collect" not in planned  # the paper's videos: source agents' replays
    assert not (tmp_path / "runs").exists()  # a dry run runs nothing


def test_omniboard_dockerfile_pinned():
    instructions = dockerfile_instructions(DOCKER / "omniboard.Dockerfile")
    runs = " ".join(args for keyword, args in instructions if keyword == "RUN")
    assert re.search(r"npm install .*\bomniboard@2\.16\.1\b", runs)
    assert exec_form(dict(instructions)["ENTRYPOINT"]) == ["omniboard"]


# ---- Dockerfile and .dockerignore ----


def test_dockerfile_copy_sources_exist(dockerfile):
    sources = copy_sources(dockerfile)
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), f"Dockerfile copies {source!r}, which is not in the repository"


def test_dockerfile_entrypoint(dockerfile, tmp_path):
    """tini (PID 1, forwarding signals) runs the entry point, which checks the outputs folder, then `diswm`; outside
    a container, with a plain folder as DISWM_HOME, it warns in one line and runs the command."""
    entrypoints = [args for keyword, args in dockerfile if keyword == "ENTRYPOINT"]
    assert entrypoints and exec_form(entrypoints[-1]) == ["tini", "--", "diswm-entrypoint"]
    assert "COPY docker/entrypoint.sh /usr/local/bin/diswm-entrypoint" in [f"{k} {a}" for k, a in dockerfile]
    env = {**os.environ, "DISWM_HOME": str(tmp_path), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(["sh", str(DOCKER / "entrypoint.sh"), "envs"], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and "tasks:" in done.stdout
    assert done.stderr.splitlines()[0] == (f"warning: {tmp_path} is not a volume, so outputs vanish with the container;"
                                           f" run with -v diswm-outputs:{tmp_path}")
    assert list(tmp_path.iterdir()) == []  # its write probe leaves nothing


def test_dockerfile_env(dockerfile):
    env = env_vars(dockerfile)
    assert env.get("MUJOCO_GL") == "egl"
    assert env.get("PYOPENGL_PLATFORM") == "egl"
    assert env.get("DISWM_HOME") == "/work/outputs"


def test_dockerfile_non_root_user(dockerfile):
    users = [args for keyword, args in dockerfile if keyword == "USER"]
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in ("root", "0")


def image_requirements() -> str:
    lock = (ROOT / "environment.lock").read_text()
    return subprocess.run(["sh", str(DOCKER / "image_requirements.sh")], input=lock, capture_output=True, text=True,
                          check=True).stdout


def test_dockerfile_installs_the_lock_with_cuda_torch(dockerfile):
    """The image installs docker/image.lock, every file checked against its sha256, and fails the build when what is
    installed differs; the lock is environment.lock with the CUDA build of torch and its CUDA packages."""
    runs = " ".join(args for keyword, args in dockerfile if keyword == "RUN")
    assert "pip install --require-hashes --no-deps --only-binary=:all: -r /tmp/image.lock" in runs
    assert "python /tmp/check_installed.py /tmp/image.lock" in runs
    pins = {}
    for line in (DOCKER / "image.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            requirement, digest = line.split(" --hash=sha256:")
            assert re.fullmatch(r"[0-9a-f]{64}", digest), line
            name, version = requirement.split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    for line in (ROOT / "environment.lock").read_text().splitlines():
        if line and not line.startswith("#") and "==" in line:
            name, version = line.split("==")
            assert pins[re.sub(r"[-_.]+", "-", name).lower()] == version.replace("+cpu", ""), line
    assert pins["torch"] == "2.13.0" and "triton" in pins and sum(name.startswith("nvidia-") for name in pins) >= 10
    requirements = image_requirements().splitlines()
    assert "torch===2.13.0" in requirements and not any("+cpu" in line or "pytorch.org" in line
                                                         for line in requirements)
    lock = [line for line in (ROOT / "environment.lock").read_text().splitlines() if "pytorch.org" not in line]
    assert len(requirements) == len(lock)  # everything else as locked


@pytest.mark.slow
def test_the_images_requirements_resolve_with_pip(tmp_path):
    """The image's Python layer without Docker: pip resolves the lock with the CUDA build of torch (metadata
    only, nothing installed); what `make check-docker-deps` runs."""
    (tmp_path / "requirements.txt").write_text(image_requirements())
    report = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                           "--report", str(report), "-r", str(tmp_path / "requirements.txt")],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    installed = {p["metadata"]["name"]: p["metadata"]["version"] for p in json.loads(report.read_text())["install"]}
    assert installed["torch"] == "2.13.0" and any(name.startswith("nvidia-") for name in installed)


def test_compose_is_accepted_by_compose_v1_and_names_the_project_in_env(compose):
    """Debian's docker-compose 1.29 rejects a top-level ``name:``; the project name comes from docker/.env,
    which both Compose v1 and v2 read from the compose file's folder."""
    assert "name" not in compose
    assert "COMPOSE_PROJECT_NAME=diswm" in (DOCKER / ".env").read_text().splitlines()
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose (Debian: apt-get install docker-compose) is not installed")
    done = subprocess.run(["docker-compose", "-f", str(DOCKER / "compose.yaml"), "config", "-q"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_image_records_the_commit_it_was_built_from(dockerfile, tmp_path, monkeypatch):
    from diswm_app.experiments.common import git_state

    assert ("ARG", "GIT_COMMIT=unknown") in dockerfile and env_vars(dockerfile)["DISWM_GIT_COMMIT"] == "$GIT_COMMIT"
    for service in ("reproduce", "diswm"):
        assert "GIT_COMMIT" in yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"][service]["build"][
            "args"]
    monkeypatch.setenv("DISWM_GIT_COMMIT", "0123abc")
    assert git_state(tmp_path) == {"commit": "0123abc", "dirty": None, "from": "image build argument"}
    monkeypatch.delenv("DISWM_GIT_COMMIT")
    assert git_state(tmp_path) is None and git_state(ROOT)["commit"] != "0123abc"


def test_dockerignore_patterns(ignore_patterns):
    for pattern in ignore_patterns:
        assert pattern == pattern.strip(), f"stray whitespace in {pattern!r}"
        assert pattern.lstrip("!/") not in ("", ".", "*", "**"), f"{pattern!r} excludes the whole context"
        assert ".." not in pattern.split("/"), f"{pattern!r} points outside the context"
    for required in (".git", ".venv", "runs", "data", "checkpoints", "bench/results", "figures"):
        assert is_ignored(required, ignore_patterns), f"{required} is not excluded from the build context"
    assert is_ignored("src/diswm/__pycache__/x.pyc", ignore_patterns)
    assert is_ignored("node_modules/omniboard/package.json", ignore_patterns)


def test_dockerignore_keeps_copied_files(dockerfile, ignore_patterns):
    """No pattern may hide what the Dockerfile copies (e.g. `data` must not catch src/diswm/data)."""
    for source in copy_sources(dockerfile):
        path = ROOT / source
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for file in files:
            rel = file.relative_to(ROOT).as_posix()
            if "__pycache__" in rel.split("/") or rel.startswith("figures/") or ".egg-info" in rel:
                continue
            assert not is_ignored(rel, ignore_patterns), (
                f".dockerignore excludes {rel}, which the image needs"
            )


def test_dockerignore_matcher():
    assert is_ignored("data/x.npz", ["data"])
    assert not is_ignored("src/diswm/data/__init__.py", ["data"])
    assert is_ignored("src/diswm/data/__pycache__/a.pyc", ["**/__pycache__"])
    assert is_ignored("__pycache__/a.pyc", ["**/__pycache__"])
    assert not is_ignored("runs/keep", ["runs", "!runs/keep"])


# ---- Omniboard loopback preload ----


def test_preload_exists():
    assert PRELOAD.is_file()
    assert "127.0.0.1" in PRELOAD.read_text()


def listening_address(listen_call):
    """The address a node HTTP server binds for `listen_call`, with the preload loaded."""
    script = (
        "require('http').createServer(() => {})"
        f".{listen_call}"
        ".on('listening', function () { console.log(this.address().address); this.close(); })"
    )
    out = subprocess.run(
        ["node", "-r", "./docker/omniboard-loopback.js", "-e", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


@needs_node
@pytest.mark.parametrize(
    "listen_call",
    ["listen(0)", "listen('0')", "listen(0, 511)", "listen({port: 0})", "listen()"],
    ids=["port", "string-port", "port-backlog", "options", "no-args"],
)
def test_preload_binds_loopback(listen_call):
    assert listening_address(listen_call) == "127.0.0.1"


@needs_node
def test_preload_keeps_explicit_host():
    assert listening_address("listen(0, '0.0.0.0')") == "0.0.0.0"
