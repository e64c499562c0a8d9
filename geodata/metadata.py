"""Collect every table's metadata so Alembic sees the whole schema."""

from __future__ import annotations

import importlib

from geodata.tables import Base

__all__ = ["target_metadata"]

# modules outside geodata that declare tables on the same Base; imported for their side
# effect of registering tables. Missing ones are skipped so the library works alone.
_TABLE_MODULES = (
    "geodata.colocation_tables",
    "geodata.plan_tables",
    "api.approvals.models",
)

for _name in _TABLE_MODULES:
    try:
        importlib.import_module(_name)
    except ModuleNotFoundError as exc:
        if exc.name != _name:
            raise

target_metadata = Base.metadata
