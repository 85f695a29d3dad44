"""Config dataclasses back from their ``asdict`` form (as stored in checkpoints and run records)."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any, get_type_hints


def dataclass_from_dict(cls, values: dict[str, Any]):
    """Rebuild a (nested) config dataclass from ``asdict`` output (lists back to tuples)."""
    hints = get_type_hints(cls)
    kwargs = {}
    for field in fields(cls):
        if field.name not in values:
            continue  # a field added since the checkpoint: keep its default
        value = values[field.name]
        if is_dataclass(hints[field.name]) and isinstance(value, dict):
            value = dataclass_from_dict(hints[field.name], value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[field.name] = value
    return cls(**kwargs)
