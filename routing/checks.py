"""Check proposed lines: bad input, road protection periods, recent digs, existing lines."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from routing.errors import ProposalError
from routing.overlap import LineMatching
from routing.standards import RuleValue
from routing.standards import excavation_rules
from routing.standards import horizontal_clearance
from routing.standards import load_standards

__all__ = [
    "DUG_RECENTLY_DAYS",
    "Finding",
    "check_clearances",
    "check_protection",
    "check_recent_digs",
    "validate_proposals",
]

logger = logging.getLogger(__name__)

# "dug recently": another project's dig on the same road ended at most this long before
DUG_RECENTLY_DAYS = 365
# utility names of geodata.utilities -> the standards' vocabulary
_STANDARD_UTILITY = {"drainage": "sewer_storm", "sewer": "sewer_storm", "storm": "sewer_storm"}
_ALMOST_ALL = 0.999


@dataclass(frozen=True, slots=True)
class Finding:
    """One warning about a proposed line, with the rule it comes from.

    Attributes
    ----------
    kind
        ``protected_road``, ``dug_recently``, ``clearance``, ``clearance_unknown``,
        ``crossing`` or ``off_network``.
    line
        The proposed line (input label).
    rule
        The rule cited, e.g. ``"城市道路管理条例 第33条"`` or ``"GB 50289-2016 表4.1.9"``.
    verification
        The rule's verification level from the standards tables.
    message
        One sentence for the applicant.
    where
        Ids of what it concerns: ``edge_id``/``segment_id`` or ``other_id``.
    values
        Numbers behind it (required and actual distance, dates...).
    geometry
        Where, when there is one place (a point or a stretch), else ``None``.
    """

    kind: str
    line: Any
    rule: str
    verification: str
    message: str
    where: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    geometry: Any = None

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output (geometry as WKT)."""
        return {
            "kind": self.kind,
            "line": self.line,
            "rule": self.rule,
            "verification": self.verification,
            "message": self.message,
            "where": self.where,
            "values": self.values,
            "geometry": None if self.geometry is None else self.geometry.wkt,
        }


def validate_proposals(
    lines: gpd.GeoDataFrame, matching: LineMatching, *, id_column: str | None = None
) -> None:
    """Refuse proposals that cannot be planned, naming every bad feature.

    Parameters
    ----------
    lines
        The proposals with ``planned_start`` and ``planned_end``.
    matching
        Their :func:`routing.overlap.match_lines` result.
    id_column
        Column that names features in messages (default: the index label).

    Raises
    ------
    ProposalError
        A line is empty, self-intersecting, entirely off the road network, or lacks a date,
        or ends before it starts. ``detail`` lists each ``{"feature", "problem"}``.
    """
    names = lines[id_column] if id_column else pd.Series(lines.index, index=lines.index)
    problems: list[dict[str, object]] = []
    geoms = np.asarray(lines.geometry.values)
    empty = shapely.is_empty(geoms) | shapely.is_missing(geoms)
    simple = np.ones(len(lines), dtype=bool)
    simple[~empty] = shapely.is_simple(geoms[~empty])
    off = matching.off_network_m().reindex(lines.index, fill_value=0.0).to_numpy()
    length = shapely.length(geoms)
    crossing_lines = set(matching.crossings["line"])
    for i, label in enumerate(lines.index):
        name = str(names.iloc[i])
        if empty[i]:
            problems.append({"feature": name, "problem": "empty geometry"})
            continue
        if not simple[i]:
            where = shapely.is_valid_reason(shapely.polygons(shapely.get_coordinates(geoms[i])))
            problems.append({"feature": name, "problem": f"line crosses itself ({where.lower()})"})
        if off[i] >= _ALMOST_ALL * length[i] and label not in crossing_lines:
            problems.append(
                {
                    "feature": name,
                    "problem": f"far from any road: none of its {length[i]:.0f} m is within a "
                    "road corridor",
                }
            )
        for col in ("planned_start", "planned_end"):
            if col not in lines.columns or pd.isna(lines[col].iloc[i]):
                problems.append({"feature": name, "problem": f"missing {col}"})
        if {"planned_start", "planned_end"} <= set(lines.columns):
            start, end = lines["planned_start"].iloc[i], lines["planned_end"].iloc[i]
            if not (pd.isna(start) or pd.isna(end)) and pd.Timestamp(end) < pd.Timestamp(start):
                problems.append(
                    {
                        "feature": name,
                        "problem": f"planned_end {end} is before planned_start {start}",
                    }
                )
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        msg = f"proposed line {first['feature']}: {first['problem']}{more}"
        raise ProposalError(msg, detail=problems)


def check_protection(
    matching: LineMatching, proposals: pd.DataFrame, edges: pd.DataFrame
) -> list[Finding]:
    """Warn where a line digs a road inside its protection period (article 33).

    Parameters
    ----------
    matching
        Lines on roads (runs along and crossings both dig the road).
    proposals
        ``planned_start``/``planned_end`` per line label.
    edges
        Per ``edge_id``: ``segment_id``, ``name``, ``protected_until`` (date or None).

    Returns
    -------
    list of Finding
        ``protected_road`` findings where the dig starts on or before ``protected_until``.
    """
    rules = excavation_rules()
    hits = _dug_edges(matching)
    if hits.empty:
        return []
    hits = hits.join(edges[["protected_until", "name", "segment_id"]], on="edge_id")
    hits = hits[hits["protected_until"].notna()]
    out = []
    for row in hits.itertuples(index=False):
        start = pd.Timestamp(proposals.loc[row.line, "planned_start"]).date()
        until = row.protected_until
        if start > until:
            continue
        out.append(
            Finding(
                kind="protected_road",
                line=row.line,
                rule=rules.moratorium_new_road_years.clause,
                verification=rules.moratorium_new_road_years.verification,
                message=(
                    f"road {_road_label(row)} is protected until {until.isoformat()} "
                    f"(no digging {int(rules.moratorium_new_road_years.value)} years after "
                    f"building, {int(rules.moratorium_overhauled_road_years.value)} after an "
                    f"overhaul); the dig starts {start.isoformat()}. "
                    f"Exception: {rules.moratorium_exception.text}"
                ),
                where={"edge_id": int(row.edge_id), "segment_id": _plain_id(row.segment_id)},
                values={"protected_until": until.isoformat(), "planned_start": start.isoformat()},
            )
        )
    return out


def check_recent_digs(
    matching: LineMatching,
    proposals: pd.DataFrame,
    edges: pd.DataFrame,
    *,
    earlier: pd.DataFrame | None = None,
    recent_days: int = DUG_RECENTLY_DAYS,
) -> list[Finding]:
    """Warn where a road is dug by another project shortly before a line digs it again.

    Every pair of lines of different projects that dig the same edge (run along or cross
    it) is compared, within the batch and against the digs on file, so a set of lines gets
    the same warnings whether it arrives in one batch or several: line ``b`` is warned when
    it starts 1 to ``recent_days`` days after line ``a`` ends. Pairs of two lines on file
    are not compared again (they were when the later of them arrived).

    Parameters
    ----------
    matching, proposals
        The new lines (``planned_start``, ``planned_end``, ``project`` per line label).
    edges
        Per ``edge_id``: ``segment_id``, ``name`` and optionally ``last_dug_on`` (a dig
        recorded on the road itself).
    earlier
        Digs on file by other lines: rows with ``edge_id``, ``line``, ``project``,
        ``planned_end`` and, to warn those lines too when a new line ends shortly before
        they start, ``planned_start``.
    recent_days
        How long after a dig another dig counts as "again".

    Returns
    -------
    list of Finding
        ``dug_recently`` findings, on new lines and on lines on file. The rule is the
        dig-once policy; article 33 itself only protects new and overhauled roads.
    """
    hits = _dug_edges(matching)
    out: list[Finding] = []
    if hits.empty:
        return out
    rule = "dig once (集联办理): coordinate with the earlier dig"
    labels = edges[["segment_id", "name"]]
    hits = hits.join(labels, on="edge_id")
    if "last_dug_on" in edges.columns:
        dug = hits.join(edges[["last_dug_on"]], on="edge_id")
        for row in dug[dug["last_dug_on"].notna()].itertuples(index=False):
            start = pd.Timestamp(proposals.loc[row.line, "planned_start"]).date()
            gap = (start - row.last_dug_on).days
            if 0 <= gap <= recent_days:
                out.append(_recent(row, start, row.last_dug_on, None, rule, recent_days))
    batch = hits[["edge_id", "line"]].assign(
        project=proposals.loc[hits["line"], "project"].to_numpy(),
        planned_start=proposals.loc[hits["line"], "planned_start"].to_numpy(),
        planned_end=proposals.loc[hits["line"], "planned_end"].to_numpy(),
    )
    on_file = earlier if earlier is not None and len(earlier) else batch.iloc[:0]
    # b new, a new or on file; then b on file, a new
    before = pd.concat([batch, on_file[[c for c in batch.columns if c in on_file.columns]]])
    pairs = [(batch, before)]
    if "planned_start" in on_file.columns and len(on_file):
        pairs.append((on_file[list(batch.columns)], batch))
    for later, first in pairs:
        both = later.merge(first, on="edge_id", suffixes=("", "_earlier"))
        both = both[
            (both["line"] != both["line_earlier"]) & (both["project"] != both["project_earlier"])
        ]
        both = both.join(labels, on="edge_id")
        for row in both.itertuples(index=False):
            start = pd.Timestamp(row.planned_start).date()
            end = pd.Timestamp(row.planned_end_earlier).date()
            gap = (start - end).days
            if 0 < gap <= recent_days:
                out.append(_recent(row, start, end, row.project_earlier, rule, recent_days))
    return out


def check_clearances(
    lines: gpd.GeoDataFrame, existing: gpd.GeoDataFrame
) -> tuple[list[Finding], pd.Series]:
    """Horizontal clearance to existing lines of other kinds, and crossings of them.

    Parameters
    ----------
    lines
        Proposed lines with ``utility`` and optional ``subtype``, ``diameter_mm``.
    existing
        Existing underground lines (same CRS) with ``utility`` and optional ``subtype``,
        ``diameter_mm``; the index names them.

    Returns
    -------
    findings, crossings_per_line
        ``clearance`` findings where a line that does not cross an existing one runs
        closer (outer wall to outer wall) than GB 50289-2016 表4.1.9 allows;
        ``clearance_unknown`` where the table has no row and the lines are closer than the
        largest clearance of 表4.1.9 (railway and building rows aside; fail closed);
        one ``crossing`` finding per crossing point (for the vertical check), and the count
        of crossings per line.

    Raises
    ------
    ProposalError
        The two layers are in different CRSs.
    """
    counts = pd.Series(0, index=lines.index, dtype=int)
    if existing is None or existing.empty or lines.empty:
        return [], counts
    if lines.crs != existing.crs:
        msg = f"proposed lines ({lines.crs}) and existing lines ({existing.crs}) differ in CRS"
        raise ProposalError(msg)
    reach = _max_clearance_m() + _radius_m(existing).max() + _radius_m(lines).max()
    a = np.asarray(lines.geometry.values)
    b = np.asarray(existing.geometry.values)
    ia, ib = shapely.STRtree(b).query(a, predicate="dwithin", distance=reach)
    out: list[Finding] = []
    if not ia.size:
        return out, counts
    ra, rb = _radius_m(lines), _radius_m(existing)
    utility_a = lines["utility"].astype(str).to_numpy()
    utility_b = existing["utility"].astype(str).to_numpy()
    crosses = shapely.intersects(a[ia], b[ib])
    for i, j, hit in zip(ia.tolist(), ib.tolist(), crosses.tolist(), strict=True):
        label, other = lines.index[i], existing.index[j]
        if hit:
            pts = shapely.get_parts(shapely.intersection(a[i], b[j]))
            for p in pts:
                counts[label] += 1
                out.append(
                    Finding(
                        kind="crossing",
                        line=label,
                        rule="GB 50289-2016 表4.1.14",
                        verification="see vertical_clearances.csv",
                        message=(
                            f"crosses existing {utility_b[j]} line {other}: check the vertical "
                            "clearance in the cross-section"
                        ),
                        where={"other_id": _plain(other)},
                        geometry=p if p.geom_type == "Point" else p.centroid,
                    )
                )
            continue
        if utility_a[i] == utility_b[j]:
            continue
        gap = float(shapely.distance(a[i], b[j])) - ra[i] - rb[j]
        rule, strictest = _clearance(lines, i, existing, j)
        if rule is None:
            # fail closed: a pair the table has no row for is flagged when it is closer
            # than the largest clearance the table asks (railway and building rows aside)
            if gap < _max_clearance_m():
                out.append(
                    Finding(
                        kind="clearance_unknown",
                        line=label,
                        rule="GB 50289-2016 表4.1.9",
                        verification="n/a",
                        message=(
                            f"{gap:.2f} m from existing {utility_b[j]} line {other}; the "
                            "clearance table has no row for this pair: check by hand"
                        ),
                        where={"other_id": _plain(other)},
                        values={"distance_m": round(gap, 3)},
                    )
                )
            continue
        if gap < rule.value:
            near = shapely.shortest_line(a[i], b[j])
            assumed = " (subtype unknown: strictest row)" if strictest else ""
            out.append(
                Finding(
                    kind="clearance",
                    line=label,
                    rule=rule.clause,
                    verification=rule.verification,
                    message=(
                        f"{gap:.2f} m from existing {utility_b[j]} line {other}, outer wall to "
                        f"outer wall; {utility_a[i]}-{utility_b[j]} needs {rule.value:.2f} m"
                        f"{assumed}"
                    ),
                    where={"other_id": _plain(other)},
                    values={"distance_m": round(gap, 3), "required_m": rule.value},
                    geometry=near,
                )
            )
    return out, counts


# -- helpers ----------------------------------------------------------------------------------


def _dug_edges(matching: LineMatching) -> pd.DataFrame:
    """(line, edge_id) pairs a line digs: runs along and crossings."""
    frames = [matching.along[["line", "edge_id"]], matching.crossings[["line", "edge_id"]]]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=["line", "edge_id"])
    return pd.concat(frames).drop_duplicates().reset_index(drop=True)


def _recent(  # noqa: PLR0917 - private formatter
    row: Any, start: dt.date, before: dt.date, project: str | None, rule: str, days: int
) -> Finding:
    by = f"project {project}" if project else "an earlier dig"
    return Finding(
        kind="dug_recently",
        line=row.line,
        rule=rule,
        verification="n/a",
        message=(
            f"road {_road_label(row)} was dug by {by} until {before.isoformat()}, "
            f"{(start - before).days} days before this dig starts (limit {days} days)"
        ),
        where={"edge_id": int(row.edge_id), "segment_id": _plain_id(row.segment_id)},
        values={"dug_until": before.isoformat(), "planned_start": start.isoformat()},
    )


def _road_label(row: Any) -> str:
    """A road's name, else its segment id as written (never ``9821.0``)."""
    name = getattr(row, "name", None)
    if isinstance(name, str) and name:
        return name
    return str(_plain_id(row.segment_id))


def _plain_id(value: Any) -> Any:
    """An id as stored: whole floats (a pandas join that met a gap) back to int."""
    value = _plain(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _radius_m(frame: gpd.GeoDataFrame) -> np.ndarray:
    if "diameter_mm" not in frame.columns:
        return np.zeros(len(frame))
    d = pd.to_numeric(frame["diameter_mm"], errors="coerce").fillna(0).to_numpy(float)
    return np.asarray(d / 2000)


def _max_clearance_m() -> float:
    rows = load_standards().horizontal
    return max(r.rule.value for r in rows if r.utility_b not in {"railway", "building"})


def _tags(frame: gpd.GeoDataFrame, i: int, utility: str) -> set[str]:
    tags: set[str] = set()
    if "subtype" in frame.columns and isinstance(frame["subtype"].iloc[i], str):
        tags.add(frame["subtype"].iloc[i])
    if "diameter_mm" in frame.columns:
        d = pd.to_numeric(pd.Series([frame["diameter_mm"].iloc[i]]), errors="coerce").iloc[0]
        if pd.notna(d):
            if utility == "water":
                tags.add("d_le_200mm" if d <= 200 else "d_gt_200mm")
            if utility == "gas":
                tags.add("dn_le_300mm" if d <= 300 else "dn_gt_300mm")
    return tags


def _clearance(
    a: gpd.GeoDataFrame, i: int, b: gpd.GeoDataFrame, j: int
) -> tuple[RuleValue | None, bool]:
    ua = _STANDARD_UTILITY.get(str(a["utility"].iloc[i]), str(a["utility"].iloc[i]))
    ub = _STANDARD_UTILITY.get(str(b["utility"].iloc[j]), str(b["utility"].iloc[j]))
    rule = horizontal_clearance(ua, _tags(a, i, ua), ub, _tags(b, j, ub))
    if rule is not None:
        return rule, False
    # subtype unknown or not in the table: fail closed with the strictest row of the pair
    rows = [
        r.rule
        for r in load_standards().horizontal
        if {(r.utility_a, r.utility_b), (r.utility_b, r.utility_a)} & {(ua, ub)}
    ]
    return (max(rows, key=lambda r: r.value), True) if rows else (None, False)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
