"""The picture of the parts (docs/architecture.json) held against the code's imports.

Every source file is on a part; every import between two parts is an arrow of the picture and every arrow of
the picture is an import; no import that the picture forbids ("never") exists; the library (``src/diswm``)
imports nothing of the application (``src/diswm_app`` with ``experiments/`` and ``paper_figures/``, installed as
``diswm_app.experiments`` and ``diswm_app.paper_figures``); and no files or parts import each other in a loop.
Imports are read from the source (every ``import`` statement, also inside functions, and
``importlib.import_module`` of a literal module prefix), so nothing is run.
"""

from __future__ import annotations

import ast
import json
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PICTURE = json.loads((ROOT / "docs" / "architecture.json").read_text())


def mapped_packages() -> dict[str, str]:
    """setup.py's MAPPED: package -> the top-level folder it is installed from (read, not run)."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            if any(isinstance(t, ast.Name) and t.id == "MAPPED" for t in targets):
                return ast.literal_eval(node.value)
    raise AssertionError("setup.py defines no MAPPED")


# (folder, where its module names start, the package its files are installed under)
SOURCES = (("src", ROOT / "src", ""), *((folder, ROOT / folder, package) for package, folder in
                                         mapped_packages().items()), ("bench", ROOT, ""))


def module_files() -> dict[str, str]:
    """Module name -> file path relative to the checkout, for src/, the application's folders and bench/."""
    files = {}
    for folder, base, package in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = [*package.split(".")] * bool(package) + list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path.relative_to(ROOT).as_posix()
    return files


MODULES = module_files()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imported_names(path: str, module: str) -> list[str]:
    tree = ast.parse((ROOT / path).read_text(), filename=path)
    package = module.split(".") if path.endswith("__init__.py") else module.split(".")[:-1]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            names += [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args):
            argument = node.args[0]
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                names.append(argument.value)
            elif (isinstance(argument, ast.JoinedStr) and argument.values
                  and isinstance(argument.values[0], ast.Constant)):
                names.append(str(argument.values[0].value).rstrip("."))  # f"pkg.{name}": the package
    return names


def file_imports() -> dict[str, set[str]]:
    """File -> the files of src/ and bench/ it imports."""
    edges: dict[str, set[str]] = defaultdict(set)
    for module, path in MODULES.items():
        for name in _imported_names(path, module):
            target = _resolve(name)
            if target is not None and target != module:
                edges[path].add(MODULES[target])
    return edges


def part_of(path: str) -> str | None:
    """The part whose longest listed path holds the file (a folder is listed with a trailing slash)."""
    best, length = None, -1
    for name, part in PICTURE["parts"].items():
        for listed in part["is"]:
            if (path == listed or (listed.endswith("/") and path.startswith(listed))) and len(listed) > length:
                best, length = name, len(listed)
    return best


EDGES = file_imports()


def part_edges() -> dict[tuple[str, str], list[str]]:
    """(part, part) -> the file imports behind it."""
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for source, targets in EDGES.items():
        for target in targets:
            pair = (part_of(source), part_of(target))
            if pair[0] != pair[1]:
                found[pair].append(f"{source} -> {target}")
    return found


def loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_source_file_is_on_a_part():
    assert [path for path in MODULES.values() if part_of(path) is None] == []


def test_the_picture_names_only_paths_that_exist():
    for name, part in PICTURE["parts"].items():
        for listed in part["is"]:
            assert (ROOT / listed).exists(), f"part {name}: {listed} does not exist"


def test_imports_between_parts_are_the_arrows_of_the_picture():
    found = part_edges()
    drawn = {(a, b) for a, b, *_ in PICTURE["arrows"]}
    undrawn = {f"{a} -> {b}": files[:3] for (a, b), files in sorted(found.items()) if (a, b) not in drawn}
    assert undrawn == {}, "imports between parts that docs/architecture.json does not draw"
    assert sorted(drawn - set(found)) == [], "arrows drawn in docs/architecture.json that no import makes"


@pytest.mark.parametrize("never", PICTURE["never"], ids=lambda never: f"{never[0]}-x->{never[1]}")
def test_no_forbidden_import(never):
    source, target, why = never
    assert part_edges().get((source, target), []) == [], why


def test_the_library_imports_nothing_of_the_application():
    offending = [f"{source} -> {target}" for source, targets in EDGES.items() if source.startswith("src/diswm/")
                 for target in targets if not target.startswith("src/diswm/")]
    assert offending == []


def test_no_import_loops_between_files_or_parts():
    assert loops(EDGES) == []
    parts: dict[str, set[str]] = defaultdict(set)
    for source, target in part_edges():
        parts[source].add(target)
    assert loops(parts) == []


def test_the_import_reader_sees_what_python_imports():
    """The reader is the test's only eyes: it must see a lazy import inside a function, a relative-free
    ``from package import module`` and an ``import_module`` of an f-string."""
    cli = "src/diswm_app/cli.py"
    assert "experiments/demo.py" in EDGES[cli]  # imported inside _demo
    assert "experiments/__init__.py" in EDGES[cli]  # import_module(f"diswm_app.experiments.{...}")
    assert "src/diswm/models/images.py" in EDGES["src/diswm/metrics/evaluate.py"]


def test_every_place_the_readme_names_exists():
    """The README's equation table points at ``path:Name`` or ``path:Class.method``: each file exists and
    defines that name (a class's method inside the class)."""
    import re

    named = re.findall(r"`((?:src|bench|experiments|paper_figures)/[\w/]+\.py):([\w.]+)`",
                       (ROOT / "README.md").read_text())
    assert len(named) >= 25
    for path, name in named:
        tree = ast.parse((ROOT / path).read_text())
        scope: list[ast.stmt] = tree.body
        for part in name.split("."):
            found = [node for node in scope if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name == part]
            assert found, f"README names {path}:{name}, which does not define {part}"
            scope = found[0].body


def test_the_top_level_is_the_design_cards():
    """The design card fixes the top level; the application's experiments and figures sit there and install under
    the application's namespace only (no generic top-level module names such as ``experiments`` in site-packages)."""
    for name in ("src", "docker", "experiments", "paper_figures", "tests", "Dockerfile", "Makefile",
                 "environment.lock", "README.md"):
        assert (ROOT / name).exists(), name
    assert not (ROOT / "src" / "diswm_app" / "experiments").exists()
    assert not (ROOT / "src" / "diswm_app" / "paper_figures").exists()
    mapped = mapped_packages()
    assert set(mapped.values()) == {"experiments", "paper_figures"}
    assert all(package.startswith("diswm_app.") for package in mapped)
