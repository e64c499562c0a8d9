"""The collections cotrench offers through OGC API – Features, and where their features are.

A collection is one stored layer (``layer-<id>``), a city's co-location groups
(``groups-<city>``) or a city's shared-trench plans (``plans-<city>``, the latest version
of each). Each is a :class:`~geodata.features.FeatureSource` over the table that holds it,
in its city's CRS.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table
from sqlalchemy import func
from sqlalchemy import inspect
from sqlalchemy import select
from sqlalchemy.orm import Session

from geodata import storage
from geodata.colocation_tables import ColocationGroupRow
from geodata.errors import LayerNotFoundError
from geodata.features import FeatureSource
from geodata.plan_tables import TrenchPlanRow
from geodata.storage import CityInfo
from geodata.storage import LayerInfo

__all__ = ["Collection", "collection", "collections", "spatial_extent", "temporal_extent"]

_ID = re.compile(r"^(layer)-(\d{1,10})$|^(groups|plans)-([A-Za-z0-9_.-]{1,100})$")
# what each collection kind is, Chinese first
_KIND_TITLES = {
    "groups": ("共沟协同组", "co-location groups"),
    "plans": ("共同沟方案", "shared-trench plans"),
}


@dataclass(frozen=True)
class Collection:
    """One collection: its id, city, words, the action that reads it, its features."""

    id: str
    city: CityInfo
    kind: str  # a layer kind, or "groups" / "plans"
    title: str
    description: str
    source: FeatureSource
    layer: LayerInfo | None = None

    @property
    def temporal(self) -> bool:
        return self.source.time is not None


def _table(row_class: object) -> Table:
    return cast("Table", inspect(row_class).local_table)


def _layer_collection(info: LayerInfo, city: CityInfo) -> Collection:
    return Collection(
        id=f"layer-{info.id}",
        city=city,
        kind=info.kind,
        title=f"{city.title or city.name} · {info.name}",
        description=(
            f"{city.name} 的 {info.kind} 图层 {info.id}（{info.source_file}，"
            f"{info.feature_count} 个要素）/ layer {info.id} of {city.name}: {info.kind}, "
            f"{info.feature_count} features from {info.source_file}"
        ),
        source=storage.layer_source(info),
        layer=info,
    )


def _groups(city: CityInfo) -> Collection:
    table = _table(ColocationGroupRow)
    zh, en = _KIND_TITLES["groups"]
    return Collection(
        id=f"groups-{city.name}",
        city=city,
        kind="groups",
        title=f"{city.title or city.name} · {zh} / {en}",
        description=f"{city.name} 各项目同路段同期管线的协同组 / lines of several projects "
        "along the same roads in overlapping windows",
        source=FeatureSource(
            table=table,
            where=(table.c.city_id == city.id,),
            srid=city.srid,
            time=("window_start", "window_end"),
            props=(
                "key",
                "horizon_days",
                "utilities",
                "projects",
                "applicants",
                "shared_length_m",
                "window_start",
                "window_end",
            ),
        ),
    )


def _plans(city: CityInfo) -> Collection:
    table = _table(TrenchPlanRow)
    newer = _table(TrenchPlanRow).alias("newer")
    latest = ~(
        select(newer.c.id)
        .where(newer.c.plan_key == table.c.plan_key, newer.c.version > table.c.version)
        .exists()
    )
    zh, en = _KIND_TITLES["plans"]
    return Collection(
        id=f"plans-{city.name}",
        city=city,
        kind="plans",
        title=f"{city.title or city.name} · {zh} / {en}",
        description=f"{city.name} 的共同沟方案（各方案最新版本）/ the latest version of each "
        "shared-trench plan",
        source=FeatureSource(
            table=table,
            where=(table.c.city_id == city.id, table.c.geom.is_not(None), latest),
            srid=city.srid,
            time=("created_at", "created_at"),
            props=(
                "plan_key",
                "version",
                "method",
                "status",
                "total_cost_cny",
                "gap",
                "application_ids",
                "created_at",
            ),
        ),
    )


def collections(session: Session, city: str | None) -> list[Collection]:
    """Every collection of ``city`` (of every city when None), layers first, by id."""
    cities = [storage.get_city(session, city)] if city else storage.list_cities(session)
    out: list[Collection] = []
    for info in cities:
        out += [_layer_collection(la, info) for la in storage.find_layers(session, city=info.name)]
        out += [_groups(info), _plans(info)]
    return out


def collection(session: Session, collection_id: str) -> Collection:
    """The collection with this id.

    Raises
    ------
    LayerNotFoundError
        If the id names no layer or city (the message says how ids are written).
    """
    match = _ID.match(collection_id)
    if match is None:
        msg = (
            f"没有集合 {collection_id[:120]!r} / no collection {collection_id[:120]!r}: ids are "
            "layer-<id>, groups-<city> or plans-<city>"
        )
        raise LayerNotFoundError(msg)
    if match.group(1):
        info = storage.get_layer(session, int(match.group(2)))
        return _layer_collection(info, storage.get_city(session, info.city))
    city = storage.get_city(session, match.group(4))
    return _groups(city) if match.group(3) == "groups" else _plans(city)


def spatial_extent(session: Session, item: Collection) -> list[float] | None:
    """The features' bounding box in lon/lat (CRS84), or None when there are none."""
    geom = item.source.table.c.geom
    # one aggregate over the features (each transformed: a lon/lat box is not the corners')
    extent = (
        select(func.ST_Extent(func.ST_Transform(geom, 4326)).label("box"))
        .where(*item.source.where)
        .subquery()
    )
    box = session.execute(
        select(
            func.ST_XMin(extent.c.box),
            func.ST_YMin(extent.c.box),
            func.ST_XMax(extent.c.box),
            func.ST_YMax(extent.c.box),
        )
    ).one()
    if box[0] is None:
        return None
    return [round(float(v), 7) for v in box]


def temporal_extent(session: Session, item: Collection) -> list[str | None] | None:
    """The first start and the last end of the features' time, ISO 8601, or None."""
    if item.source.time is None:
        return None
    first, last = (item.source.table.c[name] for name in item.source.time)
    lo, hi = session.execute(
        select(func.min(first), func.max(last)).where(*item.source.where)
    ).one()

    def iso(value: dt.date | None) -> str | None:
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        return f"{value.isoformat()}T00:00:00Z"

    return [iso(lo), iso(hi)]
