"""Per-city views that QGIS, GeoServer and GDAL open with the right CRS.

The feature tables hold every city in its own SRID in one geometry column (typmod SRID 0),
so a desktop GIS reading a table directly cannot tell which CRS a row is in. For each city
and table a view selects that city's rows and casts the geometry to the fixed type
``geometry(<type>, <the city's SRID>)``: ``geometry_columns`` then lists each view with its
SRID, and ``ogr2ogr``, QGIS and pgRouting read it as any single-CRS table.

Views are named ``city_<name>_<what>`` (the name folded to ``[a-z0-9_]``). They are made by
the schema's owner when the schema is brought up to date and when a city is added
(:func:`refresh_city_views`); the application's role only reads them.
"""

from __future__ import annotations

import re
from typing import cast

from geoalchemy2 import Geometry
from sqlalchemy import Connection
from sqlalchemy import Table
from sqlalchemy import inspect
from sqlalchemy import select
from sqlalchemy import text

from geodata.colocation_tables import ColocationGroupRow
from geodata.plan_tables import TrenchPlanRow
from geodata.tables import FEATURE_TABLES
from geodata.tables import City
from geodata.tables import RoadTopologyRow

__all__ = ["city_view_names", "city_views_sql", "refresh_city_views", "view_prefix"]

# what -> the table's row class and an extra condition of the view
_SOURCES: dict[str, tuple[object, str]] = {
    **{kind: (row, "") for kind, row in FEATURE_TABLES.items()},
    "colocation_groups": (ColocationGroupRow, ""),
    # the latest version of each plan
    "plans": (
        TrenchPlanRow,
        " AND t.geom IS NOT NULL AND NOT EXISTS (SELECT 1 FROM trench_plans n"
        " WHERE n.plan_key = t.plan_key AND n.version > t.version)",
    ),
    "topology": (RoadTopologyRow, ""),
}
_MAX_IDENTIFIER = 63


def view_prefix(city: str) -> str:
    """``city_<name>_`` folded to an SQL identifier's letters.

    >>> view_prefix("Harbin-2")
    'city_harbin_2_'
    """
    return "city_" + re.sub(r"[^a-z0-9_]", "_", city.lower())[:40] + "_"


def city_view_names(city: str) -> dict[str, str]:
    """What (a layer kind, ``colocation_groups``, ``plans``, ``topology``) -> view name."""
    prefix = view_prefix(city)
    return {what: (prefix + what)[:_MAX_IDENTIFIER] for what in _SOURCES}


def city_views_sql(city_id: int, city: str, srid: int) -> list[str]:
    """The ``CREATE OR REPLACE VIEW`` statements of one city (values are ints: no injection)."""
    statements = []
    for what, name in city_view_names(city).items():
        row, extra = _SOURCES[what]
        table = cast("Table", inspect(row).local_table)
        geom_type = cast("Geometry", table.c.geom.type).geometry_type
        columns = ", ".join(f"t.{c.name}" for c in table.c if c.name != "geom")
        statements.append(
            f'CREATE OR REPLACE VIEW "{name}" AS SELECT {columns}, '
            f"t.geom::geometry({geom_type}, {int(srid)}) AS geom "
            f"FROM {table.name} t WHERE t.city_id = {int(city_id)}{extra}"
        )
    return statements


def refresh_city_views(conn: Connection) -> int:
    """(Re)create every city's views; return how many cities. Run as the schema's owner."""
    cities = conn.execute(select(City.id, City.name, City.srid)).all()
    for city_id, name, srid in cities:
        for statement in city_views_sql(city_id, name, srid):
            conn.execute(text(statement))
    return len(cities)
