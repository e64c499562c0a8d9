"""Co-location groups: hand-drawn date windows, a brute-force property test, Nagaoka data."""

from __future__ import annotations

# ruff: noqa: N806 - G is networkx's name for a graph
import datetime as dt
import itertools

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from shapely import LineString

from routing.colocation import ColocationGroup
from routing.colocation import edge_endpoints
from routing.colocation import find_colocations
from routing.errors import ProposalError
from routing.graph import build_road_graph
from routing.overlap import RoadIndex
from routing.overlap import match_lines
from tests.conftest import SAMPLE_DATA

CRS = 32652
D = dt.date


def street_graph() -> nx.MultiGraph:
    """Three 100 m edges east-west (a, b, c) and a side street d north from x=100 (a T)."""
    roads = gpd.GeoDataFrame(
        {"segment_id": ["a", "b", "c", "d"], "width_m": [10.0] * 4},
        geometry=[
            LineString([(0, 0), (100, 0)]),
            LineString([(100, 0), (200, 0)]),
            LineString([(200, 0), (300, 0)]),
            LineString([(100, 0), (100, 100)]),
        ],
        crs=CRS,
    )
    return build_road_graph(roads)


def proposals(rows: dict[str, tuple[str, str, D, D, LineString]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "utility": [r[0] for r in rows.values()],
            "project": [r[1] for r in rows.values()],
            "applicant": [f"applicant of {r[1]}" for r in rows.values()],
            "planned_start": [r[2] for r in rows.values()],
            "planned_end": [r[3] for r in rows.values()],
        },
        geometry=[r[4] for r in rows.values()],
        index=list(rows),
        crs=CRS,
    )


def groups_of(props: gpd.GeoDataFrame, *, horizon_days: int = 90) -> tuple[ColocationGroup, ...]:
    G = street_graph()
    m = match_lines(RoadIndex.from_graph(G), props)
    return find_colocations(m.along, props, edge_endpoints(G), horizon_days=horizon_days)


NORTH_AB = LineString([(0, 6), (200, 6)])
SOUTH_AB = LineString([(0, -6), (200, -6)])


def test_opposite_sides_overlapping_windows_form_one_group() -> None:
    (g,) = groups_of(
        proposals(
            {
                "w": ("water", "P1", D(2026, 4, 1), D(2026, 5, 31), NORTH_AB),
                "p": ("power", "P2", D(2026, 5, 15), D(2026, 6, 30), SOUTH_AB),
            }
        )
    )
    assert g.segment_ids == ("a", "b")
    assert (g.lines, g.utilities, g.projects) == (("p", "w"), ("power", "water"), ("P1", "P2"))
    assert g.applicants == ("applicant of P1", "applicant of P2")
    assert g.shared_length_m == pytest.approx(200)
    assert (g.start, g.end) == (D(2026, 4, 1), D(2026, 6, 30))


def test_windows_within_the_horizon_join_and_beyond_it_do_not() -> None:
    rows = {
        "w": ("water", "P1", D(2026, 4, 1), D(2026, 4, 30), NORTH_AB),
        "p": ("power", "P2", D(2026, 7, 29), D(2026, 8, 30), SOUTH_AB),  # 90 days after
    }
    assert len(groups_of(proposals(rows))) == 1
    assert groups_of(proposals(rows), horizon_days=89) == ()
    far = dict(rows, p=("power", "P2", D(2027, 4, 1), D(2027, 4, 30), SOUTH_AB))
    assert groups_of(proposals(far)) == ()


def test_one_utility_alone_is_not_a_group_even_across_projects() -> None:
    rows = {
        "w1": ("water", "P1", D(2026, 4, 1), D(2026, 4, 30), NORTH_AB),
        "w2": ("water", "P2", D(2026, 4, 1), D(2026, 4, 30), SOUTH_AB),
    }
    assert groups_of(proposals(rows)) == ()


def test_a_run_through_a_t_junction_and_a_line_that_only_crosses() -> None:
    rows = {
        # water along a then north up the side street d
        "w": (
            "water",
            "P1",
            D(2026, 4, 1),
            D(2026, 4, 30),
            LineString([(0, 6), (94, 6), (94, 100)]),
        ),
        # gas along d only
        "g": ("gas", "P2", D(2026, 4, 10), D(2026, 4, 20), LineString([(106, 10), (106, 100)])),
        # telecom along a and b, same weeks
        "t": ("telecom", "P3", D(2026, 4, 1), D(2026, 4, 9), LineString([(0, -6), (200, -6)])),
        # power only crosses the street at x=250
        "x": ("power", "P4", D(2026, 4, 1), D(2026, 4, 30), LineString([(250, -40), (250, 40)])),
    }
    (g,) = groups_of(proposals(rows))
    # a: water + telecom; d: water + gas; joined at the T through the water line
    assert g.segment_ids == ("a", "d")
    assert g.utilities == ("gas", "telecom", "water")
    assert "x" not in g.lines


def test_bad_dates_are_refused_naming_the_line() -> None:
    rows = {
        "w": ("water", "P1", D(2026, 4, 30), D(2026, 4, 1), NORTH_AB),
        "p": ("power", "P2", D(2026, 4, 1), D(2026, 4, 30), SOUTH_AB),
    }
    with pytest.raises(ProposalError, match=r"'w'.*before"):
        groups_of(proposals(rows))


# -- property test against a brute-force reference -------------------------------------------

SPACING = 100.0
N = 3  # 3 x 3 grid of streets
MOVES = {"E": (1, 0), "W": (-1, 0), "N": (0, 1), "S": (0, -1)}


def grid_graph() -> nx.MultiGraph:
    lines = []
    for i in range(N):
        for j in range(N - 1):
            lines.append(LineString([(i * SPACING, j * SPACING), (i * SPACING, (j + 1) * SPACING)]))
            lines.append(LineString([(j * SPACING, i * SPACING), ((j + 1) * SPACING, i * SPACING)]))
    roads = gpd.GeoDataFrame(
        {"segment_id": range(len(lines)), "width_m": 8.0}, geometry=lines, crs=CRS
    )
    return build_road_graph(roads)


GRID = grid_graph()
GRID_INDEX = RoadIndex.from_graph(GRID)


@st.composite
def layouts(draw: st.DrawFn) -> gpd.GeoDataFrame:
    rows = {}
    for k in range(draw(st.integers(2, 8))):
        x, y = draw(st.integers(0, N - 1)), draw(st.integers(0, N - 1))
        path = [(x, y)]
        for move in draw(st.lists(st.sampled_from(sorted(MOVES)), min_size=1, max_size=4)):
            nx_, ny_ = path[-1][0] + MOVES[move][0], path[-1][1] + MOVES[move][1]
            if 0 <= nx_ < N and 0 <= ny_ < N and (nx_, ny_) not in path:
                path.append((nx_, ny_))
        if len(path) < 2:
            continue
        centre = LineString([(px * SPACING, py * SPACING) for px, py in path])
        offset = draw(st.sampled_from([-6.0, -3.0, 3.0, 6.0]))
        line = shapely.offset_curve(centre, offset, join_style="mitre")
        start = D(2026, 1, 1) + dt.timedelta(days=draw(st.integers(0, 200)))
        end = start + dt.timedelta(days=draw(st.integers(0, 60)))
        utility = draw(st.sampled_from(["water", "power", "gas"]))
        rows[f"L{k}"] = (utility, f"P{k}", start, end, line)
    return proposals(rows) if rows else proposals({})


def brute_force_groups(
    props: gpd.GeoDataFrame, horizon_days: int
) -> set[tuple[frozenset[int], frozenset[str]]]:
    """Straight from the definition, with explicit pairwise loops and networkx components."""
    corridor = 4.0 + 5.0  # half width + verge
    edges = {d["edge_id"]: (u, v, d["geometry"]) for u, v, d in GRID.edges(data=True)}
    occ = []  # (edge, line) where the line runs along at least half the edge
    for e, (_, _, geom) in edges.items():
        zone = geom.buffer(corridor, cap_style="flat")
        for label, line in props.geometry.items():
            if line.intersection(zone).length >= 0.5 * geom.length:
                occ.append((e, label))
    link = nx.Graph()
    link.add_nodes_from(occ)
    for (e1, l1), (e2, l2) in itertools.combinations(occ, 2):
        if e1 == e2:
            a, b = props.loc[l1], props.loc[l2]
            gap = max(a.planned_start, b.planned_start) - min(a.planned_end, b.planned_end)
            if gap.days <= horizon_days:
                link.add_edge((e1, l1), (e2, l2))
    clusters = [
        c
        for c in nx.connected_components(link)
        if len({props.loc[line, "utility"] for _, line in c}) >= 2
    ]
    runs = nx.Graph()
    runs.add_nodes_from(range(len(clusters)))
    for i, j in itertools.combinations(range(len(clusters)), 2):
        (ei,), (ej,) = {e for e, _ in clusters[i]}, {e for e, _ in clusters[j]}
        ends_i, ends_j = set(edges[ei][:2]), set(edges[ej][:2])
        shared = {line for _, line in clusters[i]} & {line for _, line in clusters[j]}
        if ends_i & ends_j and shared:
            runs.add_edge(i, j)
    out = set()
    for comp in nx.connected_components(runs):
        members = set().union(*(clusters[i] for i in comp))
        out.add((frozenset(e for e, _ in members), frozenset(line for _, line in members)))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layouts(), st.sampled_from([0, 30, 90]))
def test_groups_equal_brute_force(props: gpd.GeoDataFrame, horizon_days: int) -> None:
    m = match_lines(GRID_INDEX, props, min_overlap_m=1.0)
    # an edge counts when the line runs along at least half of it (as in the reference)
    along = m.along.groupby(["line", "edge_id"]).filter(lambda r: r["share"].sum() >= 0.5)
    found = find_colocations(along, props, edge_endpoints(GRID), horizon_days=horizon_days)
    got = {(frozenset(g.edge_ids), frozenset(g.lines)) for g in found}
    assert got == brute_force_groups(props, horizon_days)


# -- real data: Nagaoka's underground lines as proposals --------------------------------------


def test_nagaoka_colocated_kinds_per_street_equal_brute_force() -> None:
    """Streets are the edges of the real water network (Nagaoka has no road layer); every
    line of every kind is a proposal. A kind runs along a street when its pieces whose
    nearest parallel street piece (within 4 m, 30 degrees) is on that street add up to half
    the street's length. Streets shorter than 5 m (junction stubs) are left out."""
    path = SAMPLE_DATA / "nagaoka.gpkg"  # two map tiles of PLATEAU's Nagaoka lines
    props = gpd.read_file(path, layer="underground_lines").explode(ignore_index=True)
    streets = props[props["utility"] == "water_supply"][["geometry"]].assign(width_m=2.0)
    G = build_road_graph(streets, snap_tolerance_m=1.0)
    m = match_lines(RoadIndex.from_graph(G), props, verge_m=3.0, min_overlap_m=0.0, step_m=2.0)
    edges = gpd.GeoSeries(
        {d["edge_id"]: d["geometry"] for *_, d in G.edges(data=True)}, crs=props.crs
    ).sort_index()
    along = m.along.assign(utility=props.loc[m.along["line"], "utility"].to_numpy())
    mine = _kinds(along.groupby(["edge_id", "utility"])["overlap_m"].sum(), edges.length)
    brute = _kinds(_brute_overlap(props, edges), edges.length)
    assert len(mine) > 50
    assert mine == brute


def _kinds(length: pd.Series, street_m: pd.Series) -> dict[int, frozenset[str]]:
    out: dict[int, set[str]] = {}
    for (edge, utility), value in length.items():
        if street_m[edge] >= 5.0 and value >= 0.5 * street_m[edge]:
            out.setdefault(int(edge), set()).add(utility)
    return {e: frozenset(k) for e, k in out.items() if len(k) >= 2}


def _brute_overlap(props: gpd.GeoDataFrame, edges: gpd.GeoSeries) -> pd.Series:
    """GeoPandas, one row per 2 m line piece and per straight street piece: sjoin, filter."""

    def pieces(geoms: gpd.GeoSeries, step: float | None) -> gpd.GeoDataFrame:
        rows = []
        for key, geom in geoms.items():
            coords = np.asarray((shapely.segmentize(geom, step) if step else geom).coords)
            rows += [
                (key, LineString([p, q])) for p, q in itertools.pairwise(coords) if (p != q).any()
            ]
        return gpd.GeoDataFrame(
            {"key": [k for k, _ in rows]}, geometry=[g for _, g in rows], crs=geoms.crs
        )

    line_pieces = pieces(props.geometry, 2.0)
    line_pieces["utility"] = props.loc[line_pieces["key"], "utility"].to_numpy()
    street_pieces = pieces(edges, None).rename(columns={"key": "edge_id"})
    mids = line_pieces.set_geometry(line_pieces.geometry.interpolate(0.5, normalized=True))
    pairs = gpd.sjoin(mids, street_pieces, predicate="dwithin", distance=4.0)
    road = street_pieces.geometry.loc[pairs["index_right"]].to_numpy()
    own = line_pieces.geometry.loc[pairs.index].to_numpy()
    pairs["dist"] = shapely.distance(mids.geometry.loc[pairs.index].to_numpy(), road)
    u = np.diff(np.stack([np.asarray(g.coords) for g in road]), axis=1)[:, 0]
    v = np.diff(np.stack([np.asarray(g.coords) for g in own]), axis=1)[:, 0]
    cos = np.abs((u * v).sum(1)) / (np.hypot(*u.T) * np.hypot(*v.T))
    pairs = pairs[cos >= np.cos(np.radians(30))].reset_index()
    best = pairs.sort_values(["index", "dist", "edge_id"]).drop_duplicates("index")
    best["length_m"] = line_pieces.length.loc[best["index"]].to_numpy()
    return best.groupby(["edge_id", "utility"])["length_m"].sum()
