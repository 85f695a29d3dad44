"""Every paper item reproduces at smoke scale: ``diswm reproduce ITEM --scale smoke --seeds 1`` runs every cell to its
table (issue 27), and every task family (DMC, Pusher, DrawerWorld) finetunes with every method somewhere here.

The items share one outputs home (module scope), as a user's would: source agents and teachers made for one item
are reused by the next, and a cell two items share runs once."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from diswm.configs import METHODS
from diswm.envs import DRAWER_TASK_NAMES
from diswm.records import finetune_records, flat_config
from diswm_app.cli import main
from diswm_app.experiments.paper import ITEMS, Cell
from diswm_app.experiments.reproduce import run_stage, stages

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    folder = tmp_path_factory.mktemp("paper_items")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DISWM_HOME", str(folder))
        patch.setenv("OMP_NUM_THREADS", "1")
        patch.delenv("DISWM_RUNS_DIR", raising=False)
        patch.delenv("DISWM_MONGO_URL", raising=False)
        yield folder


def family(task: str) -> str:
    return "DrawerWorld" if task in DRAWER_TASK_NAMES else "Pusher" if task == "pusher" else "DMC"


@pytest.mark.parametrize("item", ["fig4", "tableA", "tableB", "tableC", "fig7", "fig8", "figI"])
def test_every_cell_of_the_item_reproduces_to_its_table(home: Path, item: str):
    assert main(["reproduce", item, "--scale", "smoke", "--seeds", "1"]) == 0
    stem = f"{item}_smoke"
    table = (home / "results" / f"{stem}.md").read_text()
    assert "not run" not in table, table
    with open(home / "results" / f"{stem}.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= len(ITEMS[item].cells) and all(row for row in rows)


#: the (family, method) pairs no item finetunes: each on one of its family's tasks, from a DMC source
MISSING = sorted({(family(task), method) for task in ("reacher_easy", "pusher", "drawer_open") for method in METHODS}
                 - {(family(cell.task), cell.method) for item in ITEMS.values() for cell in item.cells})
TASK_OF = {"DMC": "reacher_easy", "Pusher": "pusher", "DrawerWorld": "drawer_open"}


@pytest.mark.parametrize(("task_family", "method"), MISSING)
def test_every_family_finetunes_with_every_method(home: Path, task_family: str, method: str):
    cell = Cell(method=method, source="finger_spin", task=TASK_OF[task_family])
    for stage, argv in stages(cell, "smoke", 0):
        assert run_stage(stage, argv) == 0, f"diswm {stage} {' '.join(argv)}"
    done = [flat_config(r["config"]) for r in finetune_records(home / "runs") if r["status"] == "COMPLETED"]
    assert any(c["method"] == method and c["task"] == cell.task and c["scale"] == "smoke" for c in done)


def test_the_suite_covers_every_family_and_method():
    covered = {(family(cell.task), cell.method) for item in ITEMS.values() for cell in item.cells} | set(MISSING)
    assert covered == {(f, m) for f in ("DMC", "Pusher", "DrawerWorld") for m in METHODS}
