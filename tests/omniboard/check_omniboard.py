"""Real-client check of our run records in Omniboard 2.16.1 (``make check-omniboard``):

1. MongoDB: ``$MONGO_URL`` if set (a real server; the check uses a fresh database ``diswm_check_<time>`` and
   drops it at the end unless ``--keep-db``), else the wire-protocol double ``tests.omniboard.mongo_wire``;
2. ``diswm records import results/shipped/runs --mongo <url>`` (which installs our Omniboard columns);
3. Omniboard from npm (``.cache/omniboard/``, installed on first use) on a free port, bound to 127.0.0.1;
4. headless Chromium (playwright-core, ``tests/omniboard/browse.js``): the runs list (every imported
   ``experiment.name``), our custom and metric columns with their values, and one finetune run's metrics
   plot with only ``eval_return`` selected (the series read from the database);
5. DOM dumps, screenshots, logs and ``summary.json`` under ``--out``; every process it started is stopped.

Exit status 1 when a check fails, 2 when the set-up fails, 0 when all pass or when node, npm or chromium is
missing (one line says which, and how to install it; ``summary.json`` says skipped).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "omniboard"
PACKAGES = {"omniboard": "2.16.1", "playwright-core": "1.65.1"}
LOOPBACK = ROOT / "docker" / "omniboard-loopback.js"
METRIC = "eval_return"
CONFIG_KEYS = ("method", "source", "task", "scale", "seed")


class SetupError(RuntimeError):
    """The check could not get as far as checking (install, import, start-up)."""


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            real = Path("/usr/lib/chromium/chromium")  # Debian's /usr/bin/chromium is a shell wrapper
            return str(real) if name == "chromium" and real.is_file() else path
    return None


def missing_tool() -> str | None:
    """One line naming the first missing tool and how to install it, or None."""
    hints = {"node": "apt-get install -y nodejs (Node 18+) or https://nodejs.org",
             "npm": "apt-get install -y npm", "chromium": "apt-get install -y chromium"}
    for tool, hint in hints.items():
        if (_chromium() if tool == "chromium" else shutil.which(tool)) is None:
            return f"omniboard check skipped: {tool} not found (install: {hint})"
    return None


def ensure_packages() -> None:
    """Omniboard and playwright-core at the pinned versions under .cache/omniboard/ (npm install once)."""
    def installed(name: str) -> str | None:
        manifest = CACHE / "node_modules" / name / "package.json"
        return json.loads(manifest.read_text())["version"] if manifest.is_file() else None

    if all(installed(name) == version for name, version in PACKAGES.items()):
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    print(f"[omniboard-check] npm install into {CACHE.relative_to(ROOT)} (once)", flush=True)
    command = ["npm", "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", "--save-exact",
               *(f"{name}@{version}" for name, version in PACKAGES.items())]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SetupError(f"npm install failed ({done.returncode}): {done.stderr.strip()[-500:]}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening_addresses(port: int) -> list[str]:
    """Local addresses with a socket listening on ``port`` (Linux /proc/net/tcp{,6}); [] elsewhere."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).is_file():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                raw = bytes.fromhex(address)
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                found.append(socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, words))
    return found


def start_omniboard(url: str, log_path: Path, timeout: float) -> tuple[subprocess.Popen, int]:
    """Omniboard on a free port, loopback only (docker/omniboard-loopback.js); returns it and its port."""
    log = log_path.open("w")
    process = subprocess.Popen(
        ["node", "-r", str(LOOPBACK), str(CACHE / "node_modules" / "omniboard" / "dist" / "start.js"), "--mu", url],
        env={**os.environ, "PORT": str(free_port())}, stdout=log, stderr=subprocess.STDOUT, cwd=CACHE,
        start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        port = re.search(r"listening on port (\d+)", text)
        if port and "established successfully" in text:
            return process, int(port.group(1))
        if process.poll() is not None:
            break
        time.sleep(0.3)
    stop(process)
    raise SetupError(f"Omniboard did not start within {timeout:g} s; see {log_path}")


def stop(process: subprocess.Popen | None) -> None:
    """Stop a process this check started, and its process group (Chromium under node)."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def expected(db: Any) -> dict[str, Any]:
    """What the pages must show, read from the database: every run's name, config columns and last
    eval_return, and the finetune run to plot (its eval_return series; the least flat one)."""
    last = {m["run_id"]: m["values"][-1] for m in db.metrics.find({"name": METRIC}) if m["values"]}
    runs = {r["_id"]: {"name": r["experiment"]["name"], "last": last.get(r["_id"]),
                       **{key: r.get("config", {}).get(key) for key in CONFIG_KEYS}}
            for r in db.runs.find({}, {"experiment.name": 1, "config": 1})}
    series = {m["run_id"]: m for m in db.metrics.find({"name": METRIC})}
    finetunes = [i for i in sorted(series) if runs[i]["name"].split()[0] == "finetune"] or sorted(series)
    if not finetunes:
        raise SetupError(f"no run with a {METRIC!r} metric was imported")
    run_id = max(finetunes, key=lambda i: (len(set(series[i]["values"])), -i))
    return {"runs": runs, "run_id": run_id, "steps": series[run_id]["steps"], "values": series[run_id]["values"]}


def _cell(value: Any) -> str:
    return "" if value is None else json.dumps(value) if isinstance(value, bool) else str(value)


def _same_number(text: str, value: float | None) -> bool:
    if value is None:
        return text == ""
    try:
        return math.isclose(float(text), value, rel_tol=1e-9, abs_tol=1e-12)
    except ValueError:
        return False


def judge(seen: dict[str, Any], want: dict[str, Any], columns: list[str]) -> list[dict[str, Any]]:
    """The assertions, each ``{check, ok, detail}``."""
    checks: list[dict[str, Any]] = []

    def check(name: str, ok: bool, detail: Any = "") -> None:
        checks.append({"check": name, "ok": bool(ok), "detail": detail})

    check("browser steps ran without errors", not seen["errors"], seen["errors"])
    check("no HTTP 5xx from Omniboard", not [r for r in seen["failed_requests"] if r.startswith("5")],
          seen["failed_requests"])
    listed = seen.get("runs_list", {"rows": []})["rows"]
    cells = [cell for row in listed for cell in row]
    missing = [run["name"] for run in want["runs"].values() if run["name"] not in cells]
    check("runs list shows every imported experiment.name", not missing and len(listed) == len(want["runs"]),
          {"rows": len(listed), "runs": len(want["runs"]), "missing": missing})

    table = seen.get("runs_columns", {"headers": [], "rows": []})
    norm = {re.sub(r"[^a-z0-9]", "", header.lower()): i for i, header in enumerate(table["headers"])}
    absent = [c for c in columns if re.sub(r"[^a-z0-9]", "", c.lower()) not in norm]
    check("runs list header shows the installed columns", not absent, {"headers": table["headers"], "absent": absent})
    wrong = []
    for row in table["rows"]:
        values = row[len(row) - len(table["headers"]):]  # after the selection and expander cells
        run = want["runs"].get(int(values[0])) if values and values[0].isdigit() else None
        if run is None:
            wrong.append({"row": row, "problem": "unknown run id"})
            continue
        for column in columns:
            index = norm.get(re.sub(r"[^a-z0-9]", "", column.lower()))
            if index is None:
                continue
            text, value = values[index], run["last"] if column == f"{METRIC}_last" else run[column]
            if not (_same_number(text, value) if column == f"{METRIC}_last" else text == _cell(value)):
                wrong.append({"run": values[0], "column": column, "shown": text, "expected": value})
    check("custom and metric column values match the database", table["rows"] and not wrong, wrong)

    view = seen.get("metrics_view", {})
    traces = {trace["name"]: trace for trace in view.get("traces", [])}
    trace = traces.get(METRIC, {})
    plotted = trace.get("y", [])
    same = trace.get("x") == want["steps"] and len(plotted) == len(want["values"]) and all(
        math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) for a, b in zip(plotted, want["values"], strict=False))
    check(f"run {want['run_id']} metrics view plots only {METRIC}, with the database's series",
          same and set(traces) <= {METRIC, f"{METRIC}.unsmoothed"} and view.get("selected") == [METRIC],
          {"traces": sorted(traces), "selected": view.get("selected"), "steps": want["steps"],
           "values": want["values"], "plotted": [trace.get("x"), trace.get("y")]})
    check(f"plot draws the line and its legend names {METRIC}",
          view.get("svg_lines", 0) >= 1 and METRIC in view.get("legend", []),
          {"svg_lines": view.get("svg_lines"), "legend": view.get("legend")})
    return checks


def browse(base: str, out: Path, want: dict[str, Any], columns: list[str], timeout: float) -> dict[str, Any]:
    """Headless Chromium (tests/omniboard/browse.js) through Omniboard at ``base``: what each page showed."""
    spec = {"base": base, "out": str(out), "chromium": _chromium(), "columns": columns,
            "names": [run["name"] for run in want["runs"].values()], "run_id": want["run_id"],
            "metric": METRIC, "timeout_ms": int(timeout * 1000)}
    (out / "spec.json").write_text(json.dumps(spec, indent=1, ensure_ascii=False))
    browser = subprocess.Popen(["node", str(ROOT / "tests" / "omniboard" / "browse.js"), str(out / "spec.json")],
                               env={**os.environ, "NODE_PATH": str(CACHE / "node_modules")}, start_new_session=True)
    try:
        browser.wait(timeout=6 * timeout)
    except subprocess.TimeoutExpired:
        stop(browser)
    try:  # Chromium processes left in its group once node has exited
        os.killpg(browser.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    if not (out / "browser.json").is_file():
        raise SetupError(f"the browser run wrote no browser.json (exit {browser.returncode})")
    return json.loads((out / "browser.json").read_text())


def run_check(out: Path, runs_dir: Path, timeout: float, keep_db: bool) -> dict[str, Any]:
    """Everything but the tool check; returns the summary (``passed`` says whether all checks passed)."""
    import pymongo

    from diswm_app.experiments.omniboard import CONFIG_COLUMNS, METRIC_COLUMNS_SPEC

    database = time.strftime("diswm_check_%Y%m%d_%H%M%S")
    summary: dict[str, Any] = {"omniboard": PACKAGES["omniboard"], "database": database, "runs_dir": str(runs_dir)}
    wire = omniboard = None
    client: Any = None
    try:
        if os.environ.get("MONGO_URL"):
            url = urlunparse(urlparse(os.environ["MONGO_URL"])._replace(path=f"/{database}"))
            summary["mongo"] = "MONGO_URL (" + urlparse(url).hostname + ")"
        else:
            from tests.omniboard.mongo_wire import MongoWire

            wire = MongoWire().start()
            url = wire.url(database)
            summary["mongo"] = "tests.omniboard.mongo_wire (mongomock)"
        print(f"[omniboard-check] MongoDB: {summary['mongo']}, database {database}", flush=True)
        imported = subprocess.run([sys.executable, "-m", "diswm_app.cli", "records", "import", str(runs_dir),
                                   "--mongo", url], capture_output=True, text=True, cwd=ROOT)
        (out / "import.txt").write_text(imported.stdout + imported.stderr)
        if imported.returncode != 0:
            raise SetupError(f"records import exited {imported.returncode}: {imported.stderr.strip()[-500:]}")
        client = pymongo.MongoClient(url, serverSelectionTimeoutMS=5000)
        db = client[database]
        want = expected(db)
        columns = [*CONFIG_COLUMNS, *METRIC_COLUMNS_SPEC]
        summary.update(imported_runs=len(want["runs"]), plotted_run=want["run_id"], columns=columns)

        omniboard, port = start_omniboard(url, out / "omniboard.log", timeout)
        bound = listening_addresses(port)
        print(f"[omniboard-check] Omniboard on http://127.0.0.1:{port}/sacred (listening on {bound})", flush=True)
        seen = browse(f"http://127.0.0.1:{port}", out, want, columns, timeout)
        checks = judge(seen, want, columns)
        checks.insert(0, {"check": "Omniboard listens on 127.0.0.1 only", "detail": bound,
                          "ok": bool(bound) and set(bound) <= {"127.0.0.1", "::ffff:127.0.0.1"}})
        if wire is not None:
            checks.append({"check": "the wire double understood every command", "ok": not wire.unknown,
                           "detail": {"unknown": wire.unknown, "commands": dict(wire.commands)}})
        summary.update(browser_version=seen.get("browser_version"), checks=checks,
                       passed=all(item["ok"] for item in checks))
    finally:
        stop(omniboard)
        if client is not None:
            if wire is None and not keep_db:
                client.drop_database(database)
            client.close()
        if wire is not None:
            wire.stop()
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.omniboard.check_omniboard", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "omniboard_check")
    parser.add_argument("--runs", type=Path, default=ROOT / "results" / "shipped" / "runs")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds for each wait (start-up, page)")
    parser.add_argument("--keep-db", action="store_true", help="with MONGO_URL: keep the check's database")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for stale in ("browser.json", "summary.json"):
        (args.out / stale).unlink(missing_ok=True)
    skipped = missing_tool()
    if skipped:
        print(skipped)
        (args.out / "summary.json").write_text(json.dumps({"skipped": skipped, "passed": None}, indent=1) + "\n")
        return 0
    try:
        ensure_packages()
        summary = run_check(args.out, args.runs, args.timeout, args.keep_db)
    except SetupError as error:
        print(f"[omniboard-check] set-up failed: {error}", file=sys.stderr)
        (args.out / "summary.json").write_text(json.dumps({"error": str(error), "passed": False}, indent=1) + "\n")
        return 2
    summary["files"] = sorted(path.name for path in args.out.iterdir())
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False, default=str) + "\n")
    for item in summary["checks"]:
        print(f"[omniboard-check] {'PASS' if item['ok'] else 'FAIL'}: {item['check']}"
              + ("" if item["ok"] else f": {json.dumps(item['detail'], default=str)[:400]}"))
    print(f"[omniboard-check] {'passed' if summary['passed'] else 'FAILED'}; screenshots, DOM dumps and "
          f"summary.json in {args.out}")
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
