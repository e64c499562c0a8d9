"""Plan store: versions, links to applications, geometry in the city SRID."""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType

import networkx as nx
import pytest
import shapely
from shapely.geometry import box
from sqlalchemy import text
from sqlalchemy.orm import Session

from geodata.plan_store import PlanNotFoundError
from geodata.plan_store import add_plan_version
from geodata.plan_store import create_plan
from geodata.plan_store import get_plan
from geodata.plan_store import list_plan_versions
from geodata.plan_store import plans_for_application
from geodata.storage import create_city
from routing.costs import CostModel
from routing.results import Site
from routing.trench import plan_shared_trench

pytestmark = pytest.mark.db

MODEL = CostModel(
    excavation_cny_per_m=MappingProxyType({"default": 100.0}),
    restoration_cny_per_m=MappingProxyType({"default": 0.0}),
    laying_cny_per_m=MappingProxyType({"water": 10.0}),
    section_width_m=MappingProxyType({"water": 0.5}),
)


def small_plan(target: str):
    G = nx.MultiGraph(crs="EPSG:32652")  # noqa: N806
    G.add_edge(
        "S",
        "A",
        segment_id=1,
        length_m=100.0,
        geometry=shapely.LineString([(500000, 5060000), (500100, 5060000)]),
    )
    G.add_edge(
        "A",
        "B",
        segment_id=2,
        length_m=50.0,
        geometry=shapely.LineString([(500100, 5060000), (500100, 5060050)]),
    )
    return plan_shared_trench(
        G,
        [Site(target, {"water"})],
        {"water": "S"},
        cost_model=MODEL,
        on_date=dt.date(2026, 11, 25),
    )


def test_versions_links_and_geometry(db_session: Session):
    city = create_city(
        db_session, name="plan_store_city", crs="EPSG:32652", extent=box(126.5, 45.6, 126.8, 45.9)
    )
    first = create_plan(
        db_session,
        city_id=city.id,
        srid=city.srid,
        plan=small_plan("A"),
        inputs={"on": dt.date(2026, 11, 25)},
        application_ids=[7, 3, 7],
    )
    assert (first.version, first.application_ids) == (1, (3, 7))
    assert first.inputs == {"on": "2026-11-25"}
    second = add_plan_version(db_session, first.plan_key, plan=small_plan("B"), inputs={})
    assert second.version == 2 and second.application_ids == (3, 7)
    assert get_plan(db_session, first.plan_key).total_cost_cny == pytest.approx(150 * 110)
    assert get_plan(db_session, first.plan_key, 1).total_cost_cny == pytest.approx(11000)
    assert [p.version for p in list_plan_versions(db_session, first.plan_key)] == [1, 2]
    assert {p.version for p in plans_for_application(db_session, 7)} == {1, 2}
    assert plans_for_application(db_session, 99) == []
    srid, length = db_session.execute(
        text("SELECT ST_SRID(geom), ST_Length(geom) FROM trench_plans WHERE id = :i"),
        {"i": second.id},
    ).one()
    assert (srid, length) == (32652, pytest.approx(150.0))
    with pytest.raises(PlanNotFoundError, match=r"has no version 5 \(versions: \[1, 2\]\)"):
        get_plan(db_session, first.plan_key, 5)
    with pytest.raises(PlanNotFoundError, match="no trench plan 'nope'"):
        add_plan_version(db_session, "nope", plan=small_plan("A"), inputs={})
