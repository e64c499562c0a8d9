"""Store cities and validated layers in PostGIS, and read them back.

This is the one module where shapely geometries cross the database boundary
(GeoAlchemy2's ``to_shape``/``from_shape``, and EWKB for the bulk ``COPY``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import cast

import geopandas as gpd
import numpy as np
import orjson
import shapely
from geoalchemy2.shape import from_shape
from geoalchemy2.shape import to_shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Select
from sqlalchemy import Table
from sqlalchemy import func
from sqlalchemy import inspect
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geodata.crs import check_city_crs
from geodata.crs import crs_label
from geodata.crs import parse_crs
from geodata.crs import require_metric
from geodata.errors import CityNotFoundError
from geodata.errors import CRSError
from geodata.errors import DuplicateLayerError
from geodata.errors import LayerNotFoundError
from geodata.errors import UnknownKindError
from geodata.features import FeatureSource
from geodata.features import query_features
from geodata.layers import SourceLayer
from geodata.tables import FEATURE_TABLES
from geodata.tables import City
from geodata.tables import Layer
from geodata.validate import ValidatedLayer

WGS84_SRID = 4326
# base data is stored once per file; proposed lines are submissions (a company may send
# the same design again, for another application) and are matched by co-location instead
ONCE_KINDS = frozenset({"roads", "underground_lines", "trees", "poles", "protected_areas"})

__all__ = [
    "CityInfo",
    "LayerInfo",
    "create_city",
    "delete_layer",
    "find_duplicate",
    "find_layers",
    "get_city",
    "get_layer",
    "layer_features",
    "layer_source",
    "list_cities",
    "read_features",
    "refuse_duplicate",
    "store_layer",
]

logger = logging.getLogger(__name__)

# rows per COPY progress report
CHUNK_ROWS = 2000
# the columns every feature table shares, in COPY order
_SHARED_COLUMNS = ("layer_id", "city_id", "srid", "source_id", "attrs", "geom")


@dataclass(frozen=True)
class CityInfo:
    """A city: its metric CRS (all its geometries are stored in it) and WGS 84 extent."""

    id: int
    name: str
    title: str
    srid: int
    crs: str
    extent: BaseGeometry
    frost_depth_m: float | None


@dataclass(frozen=True)
class LayerInfo:
    """A stored layer and where it came from."""

    id: int
    city: str
    kind: str
    name: str
    source_file: str
    source_layer: str | None
    source_format: str
    source_crs: str
    source_encoding: str | None
    feature_count: int
    imported_at: dt.datetime
    crs: str
    # SHA-256 of the source file (None for layers stored before digests, and proposals)
    source_sha256: str | None = None


def create_city(
    session: Session,
    *,
    name: str,
    crs: Any,
    extent: BaseGeometry,
    title: str = "",
    frost_depth_m: float | None = None,
) -> CityInfo:
    """Add a city with its metric CRS and its extent (a polygon in WGS 84 lon/lat).

    Raises
    ------
    CRSError
        If ``crs`` is not a metric projected CRS with an EPSG code, or does not fit the
        extent (:func:`geodata.crs.check_city_crs`: area of use, 0.1 % scale error, an
        extent typed lat,lon).
    """
    metric = require_metric(crs, what=f"city {name!r}'s geometries")
    try:
        check_city_crs(metric, extent)
    except CRSError as exc:
        msg = f"city {name!r}: {exc}"
        raise CRSError(msg) from exc
    srid = metric.to_epsg()
    if srid is None:
        msg = f"city {name!r}: the CRS needs an EPSG code, got {crs_label(metric)}"
        raise CRSError(msg)
    city = City(
        name=name,
        title=title or name,
        srid=srid,
        crs=f"EPSG:{srid}",
        extent=from_shape(
            shapely.box(*extent.bounds) if extent.geom_type != "Polygon" else extent, srid=4326
        ),
        frost_depth_m=frost_depth_m,
    )
    session.add(city)
    session.flush()
    logger.info("created city %s (EPSG:%d)", name, srid)
    return _city_info(city)


def get_city(session: Session, name: str) -> CityInfo:
    """Return the city called ``name``.

    Raises
    ------
    CityNotFoundError
        If there is none.
    """
    city = session.scalars(select(City).where(City.name == name)).one_or_none()
    if city is None:
        # the message names no other city: who may see which cities is the policy's business
        msg = f"没有城市 {name!r} / no city {name!r}"
        raise CityNotFoundError(msg)
    return _city_info(city)


def list_cities(session: Session) -> list[CityInfo]:
    """Return every city, by name."""
    return [_city_info(c) for c in session.scalars(select(City).order_by(City.name))]


def store_layer(
    session: Session,
    validated: ValidatedLayer,
    *,
    city: CityInfo,
    source: SourceLayer,
    name: str | None = None,
    progress: Callable[[int], None] | None = None,
    sha256: str | None = None,
) -> LayerInfo:
    """Insert a validated layer and all its features in the session's transaction.

    The caller owns the transaction: if anything fails, rolling it back leaves every
    table as it was. Features go in with one ``COPY`` (hex EWKB geometry).

    Parameters
    ----------
    validated
        From :func:`geodata.validate.validate_layer`, in ``city``'s CRS.
    progress
        Called with the number of rows written after each chunk.
    sha256
        The source file's digest (:func:`geodata.layers.file_digest`): a file of base
        data (:data:`ONCE_KINDS`) is stored once per city, kind and source layer, also when
        two imports of it run at once.

    Raises
    ------
    CRSError
        If the rows are not in the city's CRS.
    DuplicateLayerError
        If the city already has this file (same digest and source layer) as this kind.
    """
    report = validated.report
    rows = validated.rows
    if report.kind not in ONCE_KINDS:
        sha256 = None
    if rows.crs is None or rows.crs.to_epsg() != city.srid:
        msg = (
            f"{report.file}: rows are in {crs_label(rows.crs) if rows.crs else 'no CRS'}, "
            f"city {city.name} stores EPSG:{city.srid}"
        )
        raise CRSError(msg)
    layer = Layer(
        city_id=city.id,
        kind=report.kind,
        name=name or source.layer or source.file,
        source_file=source.file,
        source_layer=source.layer,
        source_format=source.driver,
        source_crs=source.source_crs,
        source_encoding=source.encoding,
        source_sha256=sha256,
        feature_count=len(rows),
    )
    try:
        # a savepoint: the unique index refuses a twin (a concurrent one's insert waits for
        # the first to commit); the importer has named a stored twin before validating
        with session.begin_nested():
            session.add(layer)
            session.flush()
    except IntegrityError:
        if sha256 is not None:
            refuse_duplicate(session, city, report.kind, sha256, source.layer)
        raise
    _copy_rows(
        session,
        rows,
        table=_table(report.kind).name,
        layer_id=layer.id,
        city=city,
        progress=progress,
    )
    session.flush()
    logger.info("stored %s as layer %d: %d %s", source.file, layer.id, len(rows), report.kind)
    return _layer_info(layer, city)


def find_duplicate(
    session: Session, city: CityInfo, kind: str, sha256: str, source_layer: str | None
) -> LayerInfo | None:
    """The city's layer of ``kind`` imported from the file with this digest, if any."""
    query = select(Layer).where(
        Layer.city_id == city.id,
        Layer.kind == kind,
        Layer.source_sha256 == sha256,
        func.coalesce(Layer.source_layer, "") == (source_layer or ""),
    )
    found = session.scalars(query).one_or_none()
    return None if found is None else _layer_info(found, city)


def refuse_duplicate(
    session: Session, city: CityInfo, kind: str, sha256: str, source_layer: str | None
) -> None:
    """Raise :class:`DuplicateLayerError` if the city holds this file as ``kind`` already."""
    if kind not in ONCE_KINDS:
        return
    twin = find_duplicate(session, city, kind, sha256, source_layer)
    if twin is None:
        return
    msg = (
        f"该文件已导入{city.name}，为图层 {twin.id}（{twin.name}）；如需重新导入，请先删除该图层 / "
        f"this file was already imported into {city.name} as {kind} layer {twin.id} "
        f"({twin.name}); delete that layer to import it again"
    )
    raise DuplicateLayerError(
        msg,
        {
            "layer_id": twin.id,
            "name": twin.name,
            "kind": kind,
            "imported_at": twin.imported_at.isoformat(),
        },
    )


def find_layers(
    session: Session, *, city: str | None = None, kind: str | None = None
) -> list[LayerInfo]:
    """Return stored layers, newest last, optionally of one city and kind."""
    query = select(Layer, City).join(City, Layer.city_id == City.id).order_by(Layer.id)
    if city is not None:
        query = query.where(City.name == city)
    if kind is not None:
        query = query.where(Layer.kind == kind)
    return [_layer_info(layer, _city_info(c)) for layer, c in session.execute(query)]


def get_layer(session: Session, layer_id: int) -> LayerInfo:
    """Return one stored layer.

    Raises
    ------
    LayerNotFoundError
        If no layer has this id.
    """
    found = session.execute(
        select(Layer, City).join(City, Layer.city_id == City.id).where(Layer.id == layer_id)
    ).one_or_none()
    if found is None:
        msg = f"no layer with id {layer_id}"
        raise LayerNotFoundError(msg)
    return _layer_info(found[0], _city_info(found[1]))


def delete_layer(session: Session, layer_id: int) -> None:
    """Delete a layer and its features (the foreign keys cascade).

    Raises
    ------
    LayerNotFoundError
        If no layer has this id.
    """
    layer = session.get(Layer, layer_id)
    if layer is None:
        msg = f"no layer with id {layer_id}"
        raise LayerNotFoundError(msg)
    session.delete(layer)
    session.flush()


def layer_features(
    session: Session,
    layer_id: int,
    *,
    bbox: Sequence[float] | None = None,
    bbox_crs: Any = 4326,
    crs: Any = 4326,
    limit: int = 1000,
    offset: int = 0,
) -> dict[str, Any]:
    """Return a layer's features as a GeoJSON FeatureCollection that states its CRS.

    Parameters
    ----------
    bbox
        ``(minx, miny, maxx, maxy)`` in ``bbox_crs`` (lon/lat by default); only features
        that intersect it are returned.
    crs
        The output CRS. The default, WGS 84 lon/lat, is RFC 7946 GeoJSON (7 decimals,
        counter-clockwise exterior rings, no ``crs`` member); any other adds the legacy
        ``crs`` member naming it.
    limit, offset
        Paging, in the features' id order. ``numberMatched`` counts all that match.

    Raises
    ------
    LayerNotFoundError
        If no layer has this id.
    CRSError
        If ``crs`` or ``bbox_crs`` is unknown or has no EPSG code.
    """
    info = get_layer(session, layer_id)
    out_srid = _epsg(crs)
    page = query_features(
        session,
        layer_source(info),
        bbox=bbox,
        bbox_srid=_epsg(bbox_crs),
        out_srid=out_srid,
        limit=limit,
        offset=offset,
    )
    matched, features = page.matched, page.features
    urn = f"urn:ogc:def:crs:EPSG::{out_srid}"
    collection: dict[str, Any] = {
        "type": "FeatureCollection",
        "name": info.name,
        "layer": {"id": info.id, "city": info.city, "kind": info.kind, "stored_crs": info.crs},
        "numberMatched": matched,
        "numberReturned": len(features),
        "features": features,
    }
    if out_srid != WGS84_SRID:
        # RFC 7946 has no crs member; the legacy one names a CRS the caller asked for
        collection["crs"] = {"type": "name", "properties": {"name": urn}}
    return collection


def layer_source(info: LayerInfo) -> FeatureSource:
    """The features of a stored layer, for :func:`geodata.features.query_features`."""
    table = _table(info.kind)
    time = ("planned_start", "planned_end") if "planned_start" in table.c else None
    return FeatureSource(
        table=table,
        where=(table.c.layer_id == info.id,),
        srid=int(info.crs.split(":")[1]),
        time=time,
    )


def read_features(
    session: Session,
    *,
    city: str,
    kind: str,
    layer_id: int | None = None,
    bbox: Sequence[float] | None = None,
) -> gpd.GeoDataFrame:
    """Return a city's features of one kind (all its layers, or one) in the city's CRS.

    ``bbox`` is in the city's CRS. The frame has the table's columns, ``attrs`` as dicts
    and the geometry column ``geometry``.

    Raises
    ------
    CityNotFoundError
        If there is no such city.
    UnknownKindError
        If ``kind`` has no table.
    """
    info = get_city(session, city)
    if kind not in FEATURE_TABLES:
        msg = f"unknown layer kind {kind!r}; expected one of {', '.join(FEATURE_TABLES)}"
        raise UnknownKindError(msg)
    table = _table(kind)
    query: Select[Any] = select(table).where(table.c.city_id == info.id).order_by(table.c.id)
    if layer_id is not None:
        query = query.where(table.c.layer_id == layer_id)
    if bbox is not None:
        query = query.where(
            func.ST_Intersects(table.c.geom, func.ST_MakeEnvelope(*bbox, info.srid))
        )
    rows = session.execute(query).mappings().all()
    columns = [c.name for c in table.c if c.name != "geom"]
    data = {name: [r[name] for r in rows] for name in columns}
    geoms = [to_shape(r["geom"]) for r in rows]
    return gpd.GeoDataFrame(data, geometry=geoms, crs=info.srid)


def _copy_rows(
    session: Session,
    rows: gpd.GeoDataFrame,
    *,
    table: str,
    layer_id: int,
    city: CityInfo,
    progress: Callable[[int], None] | None,
) -> None:
    extra = [c for c in rows.columns if c not in {"source_id", "attrs", "geometry"}]
    geoms = shapely.set_srid(rows.geometry.to_numpy(), city.srid)
    ewkb = shapely.to_wkb(geoms, hex=True, include_srid=True)
    attrs = [orjson.dumps(a, option=orjson.OPT_SERIALIZE_NUMPY).decode() for a in rows["attrs"]]
    values = [rows[c].to_numpy(dtype=object) for c in extra]
    source_ids = rows["source_id"].to_numpy(dtype=object)
    names = ", ".join(f'"{c}"' for c in (*_SHARED_COLUMNS, *extra))
    raw = session.connection().connection.driver_connection
    if raw is None:
        msg = "the database connection is closed"
        raise RuntimeError(msg)
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
        for start in range(0, len(rows), CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, len(rows))
            for n in range(start, stop):
                copy.write_row(
                    (
                        layer_id,
                        city.id,
                        city.srid,
                        source_ids[n],
                        attrs[n],
                        ewkb[n],
                        *(_plain(v[n]) for v in values),
                    )
                )
            if progress is not None:
                progress(stop - start)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def _table(kind: str) -> Table:
    return cast("Table", inspect(FEATURE_TABLES[kind]).local_table)


def _epsg(crs: Any) -> int:
    parsed = parse_crs(crs)
    code = parsed.to_epsg()
    if code is None:
        msg = f"CRS {crs!r} has no EPSG code"
        raise CRSError(msg)
    return int(code)


def _city_info(city: City) -> CityInfo:
    return CityInfo(
        id=city.id,
        name=city.name,
        title=city.title,
        srid=city.srid,
        crs=city.crs,
        extent=to_shape(city.extent),
        frost_depth_m=city.frost_depth_m,
    )


def _layer_info(layer: Layer, city: CityInfo) -> LayerInfo:
    return LayerInfo(
        id=layer.id,
        city=city.name,
        kind=layer.kind,
        name=layer.name,
        source_file=layer.source_file,
        source_layer=layer.source_layer,
        source_format=layer.source_format,
        source_crs=layer.source_crs,
        source_encoding=layer.source_encoding,
        feature_count=layer.feature_count,
        imported_at=layer.imported_at,
        crs=city.crs,
        source_sha256=layer.source_sha256,
    )
