"""Import proposed lines, match them to the city's roads, group and warn: the one pipeline.

Every way proposed lines enter the system (``POST /proposals/{city}``, the application's
designer endpoints, the workbench, ``cotrench demo load``) calls :func:`import_proposals` or
:func:`add_proposals` here:

1. import the file (``geodata.importer``: validation, all or nothing),
2. match the lines to the city's road graph (the one graph, :mod:`api.services.graphs`),
3. check them (``routing.checks``) against the city's roads, existing lines and every
   proposal on file, and within the batch itself, so the warnings and groups of a set of
   lines are the same whether they arrive in one request or several,
4. store matches and warnings, and recompute only the co-location groups they touch
   (``routing.colocation``); :func:`rebuild_groups` recomputes a whole city and gives
   the same groups (tested).

Co-location runs across all applications and dates of the city. Everything runs in the
caller's transaction: on an error nothing of it is kept once the caller rolls back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.services.graphs import CityGraph
from api.services.graphs import RoadGraphs
from api.services.topology import GRAPH_KINDS
from api.services.topology import store_topology
from geodata import colocation_store as store
from geodata.importer import ImportResult
from geodata.importer import import_layer
from geodata.importer import load_city_package as geodata_load_city_package
from geodata.limits import DEFAULT_LIMITS
from geodata.limits import ImportLimits
from geodata.storage import CityInfo
from geodata.storage import LayerInfo
from geodata.tables import ProposedLineRow
from routing.checks import DUG_RECENTLY_DAYS
from routing.checks import Finding
from routing.checks import check_clearances
from routing.checks import check_protection
from routing.checks import check_recent_digs
from routing.checks import validate_proposals
from routing.colocation import ColocationGroup
from routing.colocation import find_colocations
from routing.errors import ProposalError
from routing.overlap import LineMatching
from routing.overlap import match_lines

__all__ = [
    "HORIZON_DAYS",
    "ProposalOutcome",
    "add_layer_proposals",
    "add_proposals",
    "import_proposals",
    "load_city_package",
    "rebuild_groups",
]

logger = logging.getLogger(__name__)

HORIZON_DAYS = 90
# wider than any clearance of the table the existing lines are checked against
_EXISTING_REACH_M = 10.0


@dataclass(frozen=True)
class ProposalOutcome:
    """What adding proposals found: matching, the groups they are in, and warnings.

    ``findings`` are this batch's warnings: those on its own lines, and the ``dug_recently``
    warnings it causes on lines stored earlier (a line already on file that starts soon
    after one of these ends).
    """

    line_ids: tuple[int, ...]
    source_ids: dict[int, str]
    matching: LineMatching
    groups: list[dict[str, Any]]
    findings: list[Finding]
    crossings_of_existing: dict[int, int]
    utilities: dict[int, str]
    layer_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output, lines named by stored id and source id."""
        along = self.matching.along.rename(columns={"line": "proposed_line_id"})
        crossings = self.matching.crossings.rename(columns={"line": "proposed_line_id"})
        off = self.matching.off_network.rename(columns={"line": "proposed_line_id"})
        return {
            "lines": [
                {
                    "proposed_line_id": i,
                    "source_id": self.source_ids[i],
                    "length_m": float(self.matching.line_length_m[i]),
                    "off_network_m": float(self.matching.off_network_m()[i]),
                    "existing_lines_crossed": self.crossings_of_existing.get(i, 0),
                }
                for i in self.line_ids
            ],
            "along": _records(along),
            "crossings": _records(crossings),
            "off_network": _records(off.drop(columns="geometry").assign(wkt=off.geometry.to_wkt())),
            "groups": self.groups,
            "warnings": [f.as_dict() for f in self.findings],
        }


def import_proposals(
    session: Session,
    graphs: RoadGraphs,
    path: Path,
    *,
    city: str,
    crs: str | None = None,
    encoding: str | None = None,
    layer: str | None = None,
    display_name: str | None = None,
    application_id: int | None = None,
    limits: ImportLimits = DEFAULT_LIMITS,
) -> ProposalOutcome:
    """Import a file of proposed lines, then match, check, warn and group them.

    Parameters
    ----------
    path
        Any file the layer import reads (GeoJSON, GeoPackage, shapefile set, DXF, ...).
    city
        The city the lines belong to.
    crs, encoding, layer, display_name, limits
        Passed to :func:`geodata.importer.import_layer`.
    application_id
        The approval application the lines are proposed for (``None``: city-wide).

    Returns
    -------
    ProposalOutcome
        With ``layer_id`` set to the stored layer.

    Raises
    ------
    LayerValidationError, LayerReadError
        The file is refused (nothing is stored).
    ProposalError
        A line cannot be planned (off every road, self-intersecting, bad dates).
    """
    result: ImportResult = import_layer(
        session,
        path,
        kind="proposed_lines",
        city=city,
        crs=crs,
        encoding=encoding,
        layer=layer,
        display_name=display_name,
        limits=limits,
    )
    ids = _layer_line_ids(session, result.layer.id)
    if application_id is not None:
        store.link_layer_to_application(
            session, layer_id=result.layer.id, application_id=application_id
        )
    outcome = add_proposals(session, graphs, city=city, line_ids=ids)
    return ProposalOutcome(**{**outcome.__dict__, "layer_id": result.layer.id})


def add_layer_proposals(
    session: Session, graphs: RoadGraphs, *, city: str, layer_id: int
) -> ProposalOutcome | None:
    """Match, check and group the lines of a stored layer not matched yet (None: all were).

    For layers stored without this pipeline (a city package loaded by ``demo load``).
    """
    ids = store.unmatched_line_ids(session, layer_id=layer_id)
    if not ids:
        return None
    return add_proposals(session, graphs, city=city, line_ids=ids)


def load_city_package(
    session: Session, graphs: RoadGraphs, path: Path
) -> tuple[list[tuple[str, LayerInfo, bool]], list[ProposalOutcome]]:
    """Load a city package (``geodata.importer.load_city_package``) and match its proposals.

    Every proposed-lines layer of the package whose lines are not matched yet goes through
    :func:`add_proposals`, so a sample city's proposals are matched, checked and grouped like
    any submitted ones. Loading twice adds nothing.

    Returns
    -------
    (layers, outcomes)
        The loaded layers as ``geodata.importer.load_city_package`` gives them, and one
        outcome per proposed-lines layer matched now.
    """
    loaded = geodata_load_city_package(session, path)
    for city in sorted({info.city for _n, info, new in loaded if new and info.kind in GRAPH_KINDS}):
        store_topology(session, city)
    outcomes = []
    for _name, info, _new in loaded:
        if info.kind != "proposed_lines":
            continue
        outcome = add_layer_proposals(session, graphs, city=info.city, layer_id=info.id)
        if outcome is not None:
            outcomes.append(outcome)
    return loaded, outcomes


def add_proposals(
    session: Session,
    graphs: RoadGraphs,
    *,
    city: str,
    line_ids: Sequence[int],
    horizon_days: int = HORIZON_DAYS,
    verge_m: float = 5.0,
    recent_days: int = DUG_RECENTLY_DAYS,
) -> ProposalOutcome:
    """Match stored proposed lines, store matches and warnings, and update their groups.

    Parameters
    ----------
    city
        The city the lines belong to.
    line_ids
        ``proposed_lines.id`` values, not yet added.
    horizon_days
        Coordination horizon of the groups; must be the one the city's groups were built with.

    Returns
    -------
    ProposalOutcome

    Raises
    ------
    ProposalError
        A line is unknown, already added, off every road, self-intersecting or has bad dates;
        ``detail`` names each feature.
    RoadLayerError
        The city has no roads.
    """
    roads = graphs.get(session, city)
    info = roads.city
    lines = _lines(session, info, line_ids)
    matching = match_lines(roads.index, lines, verge_m=verge_m)
    validate_proposals(lines, matching, id_column="source_id")
    store.store_matching(session, info, matching.along, matching.crossings)
    findings, crossed = _findings(session, roads, lines, matching, recent_days)
    store.store_warnings(session, info, [_warning_row(f) for f in findings])
    touched = set(matching.along["edge_id"].astype(int).tolist())
    _update_groups(session, roads, touched, horizon_days)
    groups = store.groups_of_lines(session, info, lines.index.tolist())
    logger.info(
        "added %d proposals in %s: %d matches, %d warnings, %d groups touched",
        len(lines),
        info.name,
        len(matching.along),
        len(findings),
        len(groups),
    )
    return ProposalOutcome(
        line_ids=tuple(int(i) for i in lines.index),
        source_ids={int(i): str(s) for i, s in lines["source_id"].items()},
        matching=matching,
        groups=groups,
        findings=findings,
        crossings_of_existing=crossed,
        utilities={int(i): str(u) for i, u in lines["utility"].items()},
    )


def rebuild_groups(
    session: Session, graphs: RoadGraphs, *, city: str, horizon_days: int = HORIZON_DAYS
) -> int:
    """Recompute every co-location group of a city from its stored matches; returns the count."""
    roads = graphs.get(session, city)
    store.delete_groups(session, roads.city)
    groups = _compute(session, roads, None, horizon_days)
    store.store_groups(session, roads.city, _group_rows(roads, groups), horizon_days=horizon_days)
    return len(groups)


# -- helpers ----------------------------------------------------------------------------------


def _layer_line_ids(session: Session, layer_id: int) -> list[int]:
    return list(
        session.scalars(
            select(ProposedLineRow.id)
            .where(ProposedLineRow.layer_id == layer_id)
            .order_by(ProposedLineRow.id)
        ).all()
    )


def _lines(session: Session, info: CityInfo, line_ids: Sequence[int]) -> Any:
    lines = store.read_proposed_lines(session, info, line_ids)
    missing = sorted({int(i) for i in line_ids} - set(lines.index.tolist()))
    if missing:
        msg = f"proposed lines {missing} are not stored for city {info.name!r}"
        raise ProposalError(
            msg, detail=[{"feature": str(m), "problem": "unknown"} for m in missing]
        )
    done = store.added_line_ids(session, lines.index.tolist())
    if done:
        msg = f"proposed lines {done} were already added"
        raise ProposalError(msg)
    return lines


def _findings(
    session: Session,
    roads: CityGraph,
    lines: Any,
    matching: LineMatching,
    recent_days: int,
) -> tuple[list[Finding], dict[int, int]]:
    info = roads.city
    new_ids = lines.index.tolist()
    dug = set(matching.along["edge_id"].astype(int)) | set(
        matching.crossings["edge_id"].astype(int)
    )
    on_file = store.stored_digs(session, info, dug, exclude=new_ids)
    findings = check_protection(matching, lines, roads.dated)
    findings += check_recent_digs(
        matching, lines, roads.edges, earlier=on_file, recent_days=recent_days
    )
    existing = store.read_existing_lines(
        session, info, lines.total_bounds, reach_m=_EXISTING_REACH_M
    )
    clearance, crossed = check_clearances(lines, existing)
    findings += clearance
    findings += _off_network_findings(matching, lines)
    return findings, {int(k): int(v) for k, v in crossed.items()}


def _warning_row(f: Finding) -> dict[str, Any]:
    return {
        "proposed_line_id": int(f.line),
        "kind": f.kind,
        "rule": f.rule,
        "verification": f.verification,
        "message": f.message,
        "where": f.where,
        "values": f.values,
        "geometry": f.geometry,
    }


def _off_network_findings(matching: LineMatching, lines: Any) -> list[Finding]:
    return [
        Finding(
            kind="off_network",
            line=r.line,
            rule="routing.overlap corridor (road half width + verge)",
            verification="n/a",
            message=(
                f"line {lines.loc[r.line, 'source_id']} leaves the road network for "
                f"{r.length_m:.0f} m (from {r.from_m:.0f} m to {r.to_m:.0f} m along it)"
            ),
            values={"length_m": float(r.length_m), "from_m": float(r.from_m)},
            geometry=r.geometry,
        )
        for r in matching.off_network.itertuples(index=False)
    ]


def _update_groups(
    session: Session, roads: CityGraph, touched: set[int], horizon_days: int
) -> None:
    """Replace the groups that new matches on the ``touched`` edges can change.

    Only the touched edges gained matches, so clusters elsewhere are as they were. A group
    can change only if it has a touched edge or contains a line that runs along one (that
    line is how a new cluster joins it). Those groups are dissolved and recomputed from
    every match on the touched edges and on their own edges; of the result, only groups
    with a touched edge or such a line are kept: any other group found there is an old,
    unchanged one (still stored) seen through part of its edges.
    """
    if not touched:
        return
    info = roads.city
    lines, old = store.groups_touching(session, info, touched)
    work = set(touched)
    if old:
        work |= store.group_edge_ids(session, old)
        store.delete_groups(session, info, old)
    found = _compute(session, roads, work, horizon_days)
    keep = tuple(
        g for g in found if touched.intersection(g.edge_ids) or lines.intersection(g.lines)
    )
    store.store_groups(session, info, _group_rows(roads, keep), horizon_days=horizon_days)


def _compute(
    session: Session, roads: CityGraph, edges: set[int] | None, horizon_days: int
) -> tuple[ColocationGroup, ...]:
    frame = store.match_rows(session, roads.city, edges)
    if frame.empty:
        return ()
    proposals = frame.drop_duplicates("line").set_index("line")
    return find_colocations(
        frame[["line", "edge_id", "segment_id", "from_m", "to_m"]],
        proposals,
        roads.endpoints,
        horizon_days=horizon_days,
    )


def _group_rows(roads: CityGraph, groups: Sequence[ColocationGroup]) -> list[dict[str, Any]]:
    geoms = roads.index.geometry
    return [
        {
            "key": g.key,
            "utilities": g.utilities,
            "projects": g.projects,
            "applicants": g.applicants,
            "shared_length_m": g.shared_length_m,
            "start": g.start,
            "end": g.end,
            "geometry": shapely.MultiLineString(list(geoms[list(g.edge_ids)])),
            "lines": g.lines,
            "edge_ids": g.edge_ids,
            "segment_ids": g.segment_ids,
        }
        for g in groups
    ]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]
