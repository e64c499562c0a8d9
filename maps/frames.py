"""Turn domain results into the plain GeoDataFrames the web and print maps draw."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

__all__ = [
    "MapContext",
    "TrenchFrames",
    "normalise_utilities",
    "route_frames",
    "trench_frames",
]

logger = logging.getLogger(__name__)

TRENCH_COLUMNS = ("edge", "utilities", "n_utilities", "length_m", "geometry")
ROUTE_COLUMNS = ("utility", "length_m", "geometry")


@dataclass(frozen=True)
class TrenchFrames:
    """A trench plan as frames: one row per trench edge, one row per utility route.

    ``edges`` has ``edge`` (segment id), ``utilities`` (sorted, comma-joined),
    ``n_utilities``, ``length_m`` and the geometry; ``routes`` has ``utility``,
    ``length_m`` and the geometry. Both share the plan's metric CRS.
    """

    edges: gpd.GeoDataFrame
    routes: gpd.GeoDataFrame
    plan_id: int | str | None = None
    title: str = ""
    summary: Mapping[str, Any] = field(default_factory=dict)

    @property
    def crs(self) -> Any:
        return self.edges.crs

    def to_crs(self, crs: Any) -> TrenchFrames:
        """Return the same frames in another (metric) CRS."""
        return TrenchFrames(
            edges=self.edges.to_crs(crs),
            routes=self.routes.to_crs(crs),
            plan_id=self.plan_id,
            title=self.title,
            summary=self.summary,
        )


@dataclass(frozen=True)
class MapContext:
    """What a review map shows around a plan or an application; every frame is optional.

    ``existing`` needs a ``utility`` column; ``trees`` may carry a boolean ``affected``;
    ``groups`` (co-location groups) should carry ``group``, ``utilities``, ``length_m``;
    ``warnings`` should carry ``rule`` and ``message``.
    """

    roads: gpd.GeoDataFrame | None = None
    existing: gpd.GeoDataFrame | None = None
    trees: gpd.GeoDataFrame | None = None
    protected: gpd.GeoDataFrame | None = None
    poles: gpd.GeoDataFrame | None = None
    groups: gpd.GeoDataFrame | None = None
    warnings: gpd.GeoDataFrame | None = None

    def frames(self) -> dict[str, gpd.GeoDataFrame]:
        """Return the non-empty frames by layer key."""
        out = {}
        for key in ("roads", "existing", "trees", "protected", "groups", "warnings"):
            # poles are drawn on the attachment permit sheet only
            gdf = getattr(self, key)
            if gdf is not None and len(gdf):
                out[key] = gdf
        return out


def normalise_utilities(value: Any) -> tuple[str, ...]:
    """Return a sorted tuple of utility names from a set, list or comma-joined string.

    Examples
    --------
    >>> normalise_utilities("water, gas")
    ('gas', 'water')
    >>> normalise_utilities(frozenset({"power"}))
    ('power',)
    """
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ()
    if isinstance(value, str):
        items: Iterable[str] = (v.strip() for v in value.split(","))
    else:
        items = (str(v) for v in value)
    return tuple(sorted({v for v in items if v}))


def trench_frames(plan: Any) -> TrenchFrames:
    """Return the frames of a trench plan.

    Parameters
    ----------
    plan
        A ``TrenchFrames`` (returned as is), a GeoDataFrame of trench edges with
        ``utilities`` and a geometry, or a ``routing.results.TrenchPlan``.

    Returns
    -------
    TrenchFrames

    Raises
    ------
    ValueError
        If the plan has no CRS or its edges lack a ``utilities`` column.
    """
    if isinstance(plan, TrenchFrames):
        return plan
    if isinstance(plan, gpd.GeoDataFrame):
        edges = _edges_from_frame(plan)
        return TrenchFrames(edges=edges, routes=_routes_from_edges(edges))
    return _frames_from_plan(plan)


def route_frames(
    geojson: Mapping[str, Any],
    crs: Any,
    *,
    title: str = "",
    default_utilities: Iterable[str] = (),
) -> TrenchFrames:
    """Return the frames of a fixed route: a GeoJSON FeatureCollection of trench lines.

    Each feature carries ``utilities`` (a list or comma-joined) or a single ``utility``,
    and optionally ``edge`` (or ``segment_id``) and ``length_m``; coordinates are in
    ``crs``. A feature naming no utility carries ``default_utilities`` (an application's
    route drawn without per-segment utilities serves all of its utilities).

    Raises
    ------
    ValueError
        If the collection has no line features, or a feature names no utility and there
        is no default.
    """
    features = list(geojson.get("features") or [])
    if not features:
        msg = "the route has no features; nothing to draw"
        raise ValueError(msg)
    gdf = gpd.GeoDataFrame.from_features(features, crs=crs)
    fallback = normalise_utilities(list(default_utilities))
    if "utilities" not in gdf.columns:
        single = gdf["utility"] if "utility" in gdf.columns else [None] * len(gdf)
        gdf["utilities"] = [[u] if isinstance(u, str) else None for u in single]
    gdf["utilities"] = [normalise_utilities(us) or fallback for us in gdf["utilities"]]
    missing = [i for i, us in enumerate(gdf["utilities"]) if not normalise_utilities(us)]
    if missing:
        msg = f"route feature(s) {missing} name no utility ('utilities' or 'utility')"
        raise ValueError(msg)
    if "edge" not in gdf.columns:
        # a TrenchPlan's GeoJSON (routing.results.plan_to_geojson) names it segment_id
        ids = gdf["segment_id"] if "segment_id" in gdf.columns else [None] * len(gdf)
        gdf["edge"] = [
            str(sid if sid is not None else f.get("id", i))
            for i, (sid, f) in enumerate(zip(ids, features, strict=True))
        ]
    edges = _edges_from_frame(gdf)
    summary = geojson.get("plan") if isinstance(geojson.get("plan"), Mapping) else {}
    return TrenchFrames(
        edges=edges, routes=_routes_from_edges(edges), title=title, summary=summary or {}
    )


def _edges_from_frame(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if gdf.crs is None:
        msg = "trench edges have no CRS; set one (the city's metric CRS) before drawing"
        raise ValueError(msg)
    if "utilities" not in gdf.columns:
        msg = f"trench edges need a 'utilities' column; got {list(gdf.columns)}"
        raise ValueError(msg)
    if "length_m" not in gdf.columns and not gdf.crs.is_projected:
        msg = f"trench edges need a projected metric CRS for lengths, got {gdf.crs.to_string()}"
        raise ValueError(msg)
    utilities = gdf["utilities"].map(normalise_utilities)
    edge_ids = gdf["edge"] if "edge" in gdf.columns else pd.Series(gdf.index, index=gdf.index)
    length_m = gdf["length_m"] if "length_m" in gdf.columns else gdf.geometry.length
    columns: dict[str, Any] = {
        "edge": _unique(edge_ids.astype(str).tolist()),
        "utilities": utilities.map(", ".join).to_numpy(),
        "n_utilities": utilities.map(len).to_numpy(),
        "length_m": pd.to_numeric(length_m).to_numpy(dtype=float),
    }
    if "segment_id" in gdf.columns:
        # the stored road segment an edge lies on (a plan's), for routing.analysis's match
        columns["segment_id"] = [_segment_text(s) for s in gdf["segment_id"]]
    return gpd.GeoDataFrame(columns, geometry=gdf.geometry.to_numpy(), crs=gdf.crs)


def _segment_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _unique(ids: list[str]) -> list[str]:
    """Edge ids made unique: a road segment cut into several graph edges repeats its id."""
    seen: dict[str, int] = {}
    out = []
    for i in ids:
        n = seen.get(i, 0)
        seen[i] = n + 1
        out.append(i if n == 0 else f"{i}.{n}")
    return out


def _routes_from_edges(edges: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    rows = []
    for utility in sorted({u for us in edges["utilities"] for u in normalise_utilities(us)}):
        mask = edges["utilities"].map(lambda us, u=utility: u in normalise_utilities(us))
        part = edges[mask]
        rows.append(
            {
                "utility": utility,
                "length_m": float(part["length_m"].sum()),
                "geometry": shapely.line_merge(shapely.union_all(part.geometry.to_numpy())),
            }
        )
    return gpd.GeoDataFrame(rows, columns=list(ROUTE_COLUMNS), geometry="geometry", crs=edges.crs)


def _frames_from_plan(plan: Any) -> TrenchFrames:
    # duck-typed on routing.results.TrenchPlan so maps does not pin its internals
    to_frame = getattr(plan, "edges_frame", None) or getattr(plan, "to_geodataframe", None)
    if to_frame is not None:
        gdf = to_frame()
    else:
        edges = getattr(plan, "edges", None)
        if edges is None:
            msg = f"cannot draw {type(plan).__name__}: expected a TrenchPlan or a GeoDataFrame"
            raise TypeError(msg)
        crs = getattr(plan, "crs", None)
        gdf = gpd.GeoDataFrame(
            [
                {
                    "edge": getattr(e, "edge", getattr(e, "segment_id", i)),
                    "segment_id": getattr(e, "segment_id", None),
                    "utilities": normalise_utilities(getattr(e, "utilities", ())),
                    "length_m": getattr(e, "length_m", None),
                    "geometry": getattr(e, "geometry", None),
                }
                for i, e in enumerate(edges)
            ],
            geometry="geometry",
            crs=crs,
        )
        if gdf["length_m"].isna().any():
            gdf["length_m"] = gdf.geometry.length
    edges_gdf = _edges_from_frame(gdf)
    summary = plan.summary() if callable(getattr(plan, "summary", None)) else {}
    return TrenchFrames(
        edges=edges_gdf,
        routes=_routes_from_edges(edges_gdf),
        plan_id=getattr(plan, "plan_id", getattr(plan, "id", None)),
        title=str(getattr(plan, "title", "") or ""),
        summary=summary,
    )
