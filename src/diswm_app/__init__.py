"""The application above the ``diswm`` library: the ``diswm`` command (``cli``), the Sacred experiments
(``experiments``) and the figure scripts (``paper_figures``). The library never imports this package."""

import json
from functools import cache
from pathlib import Path
from typing import Any

#: the folder that holds ``diswm`` and ``diswm_app`` (``src/`` in a checkout)
SOURCE_ROOT = Path(__file__).resolve().parent.parent
#: the checkout (git state, ``results/shipped``) when installed editable, as ``make setup`` does
REPOSITORY = SOURCE_ROOT.parent


@cache
def paper_numbers() -> dict[str, Any]:
    """What the paper reports (``paper_numbers.json``, typed once): ``fig4``, ``tableA``, ``tableB`` as
    ``{(source, task): {method: value}}`` and ``tableC`` as ``{method: (steps, train min, inference s, M params)}``."""
    raw = json.loads((Path(__file__).parent / "paper_numbers.json").read_text())
    pairs = {name: {tuple(pair.split("->")): values for pair, values in raw[name].items()}
             for name in ("fig4", "tableA", "tableB")}
    return {**pairs, "tableC": {method: tuple(values) for method, values in raw["tableC"].items()}}
