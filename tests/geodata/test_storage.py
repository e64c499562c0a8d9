"""Import into the real PostGIS: stored rows, GeoJSON out, and nothing half-stored."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import shapely
from sqlalchemy import Engine
from sqlalchemy import text
from sqlalchemy.orm import Session

from geodata.db import session_scope
from geodata.errors import CityNotFoundError
from geodata.errors import CRSError
from geodata.errors import LayerNotFoundError
from geodata.errors import LayerValidationError
from geodata.importer import import_layer
from geodata.importer import load_city_package
from geodata.layers import load_layer
from geodata.storage import CityInfo
from geodata.storage import create_city
from geodata.storage import delete_layer
from geodata.storage import find_layers
from geodata.storage import get_city
from geodata.storage import get_layer
from geodata.storage import layer_features
from geodata.storage import read_features
from geodata.storage import store_layer
from geodata.validate import ValidatedLayer
from geodata.validate import validate_layer
from tests.conftest import SAMPLE_DATA
from tests.conftest import table_counts
from tests.geodata.bad_inputs import BAD_CASES
from tests.geodata.bad_inputs import BadCase
from tests.helpers import read_sample
from tests.helpers import sample_path

pytestmark = pytest.mark.db


def _add_harbin(session: Session, name: str = "harbin_test") -> CityInfo:
    return create_city(
        session,
        name=name,
        crs="EPSG:32652",
        extent=read_sample("city").geometry.iloc[0],
        title="哈尔滨 (test)",
        frost_depth_m=2.0,
    )


@pytest.fixture
def city(db_session: Session) -> CityInfo:
    return _add_harbin(db_session)


@pytest.fixture(scope="module")
def committed_city(engine: Engine) -> Iterator[str]:
    """A committed city with a unique name, dropped (with its layers) afterwards."""
    name = f"harbin_{uuid.uuid4().hex[:8]}"
    with session_scope(engine) as session:
        _add_harbin(session, name)
    yield name
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM cities WHERE name = :name"), {"name": name})


def test_import_sample_roads(db_session: Session, city: CityInfo) -> None:
    result = import_layer(
        db_session, sample_path("roads"), kind="roads", city=city.name, layer="roads"
    )
    source = read_sample("roads")
    info = result.layer
    assert info.feature_count == len(source)
    assert (info.kind, info.city, info.crs, info.source_crs) == (
        "roads",
        city.name,
        "EPSG:32652",
        "EPSG:4326",
    )
    assert info.source_file == "sample_area.gpkg"
    assert get_layer(db_session, info.id) == info
    assert find_layers(db_session, city=city.name) == [info]
    assert find_layers(db_session, city=city.name, kind="trees") == []
    stored = read_features(db_session, city=city.name, kind="roads")
    assert stored.crs.to_epsg() == 32652
    assert len(stored) == len(source)
    expected = source.to_crs(32652).set_index(source["osm_id"].astype(str)).geometry
    for row in stored.itertuples():
        assert shapely.equals_exact(row.geometry, expected[row.source_id], tolerance=1e-6)
    srids = (
        db_session.execute(
            text("SELECT DISTINCT ST_SRID(geom) FROM road_segments WHERE layer_id = :id"),
            {"id": info.id},
        )
        .scalars()
        .all()
    )
    assert srids == [32652]


def test_layer_features_geojson_bbox_limit_and_crs(db_session: Session, city: CityInfo) -> None:
    info = import_layer(
        db_session, sample_path("roads"), kind="roads", city=city.name, layer="roads"
    ).layer
    everything = layer_features(db_session, info.id, limit=10_000)
    assert everything["type"] == "FeatureCollection"
    assert "crs" not in everything  # RFC 7946: WGS 84 lon/lat, no crs member
    assert everything["numberMatched"] == everything["numberReturned"] == info.feature_count
    lon, lat = everything["features"][0]["geometry"]["coordinates"][0]
    assert 126.5 < lon < 126.8
    assert 45.6 < lat < 45.9
    bbox = (126.655, 45.740, 126.662, 45.746)
    some = layer_features(db_session, info.id, bbox=bbox, limit=3)
    assert 0 < some["numberReturned"] <= 3
    assert 3 <= some["numberMatched"] < info.feature_count
    box = shapely.box(*bbox)
    for feature in some["features"]:
        assert shapely.geometry.shape(feature["geometry"]).intersects(box)
        assert set(feature["properties"]) >= {"source_id", "name", "road_class", "attrs"}
    page2 = layer_features(db_session, info.id, bbox=bbox, limit=3, offset=3)
    ids = {f["id"] for f in some["features"]}
    assert ids.isdisjoint(f["id"] for f in page2["features"])
    utm = layer_features(db_session, info.id, limit=1, crs="EPSG:32652")
    assert utm["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::32652"
    x, _ = utm["features"][0]["geometry"]["coordinates"][0]
    assert 300_000 < x < 350_000
    with pytest.raises(LayerNotFoundError, match="no layer with id -1"):
        layer_features(db_session, -1)


def test_load_real_city_packages_twice_adds_nothing(db_session: Session) -> None:
    connection = db_session.connection()
    first = [
        *load_city_package(db_session, SAMPLE_DATA / "harbin.gpkg"),
        *load_city_package(db_session, SAMPLE_DATA / "nagaoka.gpkg"),
    ]
    counts = table_counts(connection)
    kinds = {layer: info.feature_count for layer, info, _ in first}
    assert set(kinds) == {
        "roads",
        "trees",
        "proposed_lines",
        "protected_areas",
        "underground_lines",
    }
    assert kinds["roads"] > 1000
    assert kinds["underground_lines"] > 500
    again = [
        *load_city_package(db_session, SAMPLE_DATA / "harbin.gpkg"),
        *load_city_package(db_session, SAMPLE_DATA / "nagaoka.gpkg"),
    ]
    assert not any(new for _, _, new in again)
    assert table_counts(connection) == counts
    nagaoka = get_city(db_session, "nagaoka")
    assert nagaoka.crs == "EPSG:6676"
    harbin = get_city(db_session, "harbin")
    assert harbin.frost_depth_m == 2.0
    synthetic = db_session.execute(
        text(
            "SELECT count(*) FILTER (WHERE (attrs->>'synthetic')::boolean), count(*) "
            "FROM proposed_lines WHERE city_id = :c"
        ),
        {"c": harbin.id},
    ).one()
    assert synthetic[0] == synthetic[1] > 0


def test_delete_layer_cascades(db_session: Session, city: CityInfo) -> None:
    info = import_layer(
        db_session, sample_path("trees"), kind="trees", city=city.name, layer="trees"
    ).layer
    delete_layer(db_session, info.id)
    assert len(read_features(db_session, city=city.name, kind="trees")) == 0
    with pytest.raises(LayerNotFoundError):
        get_layer(db_session, info.id)
    with pytest.raises(LayerNotFoundError):
        delete_layer(db_session, info.id)


def test_unknown_city_names_no_other_city(db_session: Session, city: CityInfo) -> None:
    # who may know which cities exist is the policy's business, not an error message's
    with pytest.raises(CityNotFoundError, match=r"no city 'hegang'") as raised:
        get_city(db_session, "hegang")
    assert city.name not in str(raised.value)


def test_city_crs_must_be_metric(db_session: Session) -> None:
    with pytest.raises(CRSError, match="metres"):
        create_city(db_session, name="x", crs="EPSG:4326", extent=shapely.box(0, 0, 1, 1))


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda c: c.id)
def test_bad_input_is_refused_and_nothing_is_stored(
    case: BadCase, engine: Engine, committed_city: str, tmp_path: Path
) -> None:
    path, options = case.build(tmp_path)
    city = options.pop("city", committed_city)
    with engine.connect() as conn:
        before = table_counts(conn)
    with pytest.raises(case.error) as info, session_scope(engine) as session:
        import_layer(session, path, kind=case.kind, city=city, **options)
    message = str(info.value)
    assert re.search(case.match, message, flags=re.DOTALL), message
    if case.code is not None:
        assert isinstance(info.value, LayerValidationError)
        detail = info.value.detail
        assert detail["file"] == path.name
        found = [p for p in detail["problems"] if p["code"] == case.code]
        assert found, detail["problems"]
        if case.index is not None:
            assert found[0]["index"] == case.index
        if case.field is not None:
            assert found[0]["field"] == case.field
        assert found[0]["where"].startswith(path.name)
    with engine.connect() as conn:
        assert table_counts(conn) == before


def test_bad_input_corpus_is_big_enough() -> None:
    assert len(BAD_CASES) >= 15
    assert len({c.id for c in BAD_CASES}) == len(BAD_CASES)


def test_a_failure_while_storing_rolls_everything_back(engine: Engine, committed_city: str) -> None:
    source = load_layer(sample_path("proposed_lines"), layer="proposed_lines")
    with engine.connect() as conn:
        before = table_counts(conn)
    with session_scope(engine) as session:
        target = get_city(session, committed_city)
    validated = validate_layer(source, kind="proposed_lines", crs=target.crs, extent=target.extent)
    # bypass validation: the last row's dates are reversed, which the table's CHECK refuses
    rows = validated.rows.copy()
    rows.loc[rows.index[-1], "planned_end"] = rows["planned_start"].iloc[-1].replace(year=2000)
    tampered = ValidatedLayer(rows=rows, report=validated.report)
    with (
        pytest.raises(Exception, match="ck_proposed_lines_dates"),
        session_scope(engine) as session,
    ):
        store_layer(session, tampered, city=target, source=source)
    with engine.connect() as conn:
        assert table_counts(conn) == before


def test_a_committed_import_adds_one_layer_and_its_features(
    engine: Engine, committed_city: str
) -> None:
    with engine.connect() as conn:
        before = table_counts(conn)
    with session_scope(engine) as session:
        info = import_layer(
            session,
            sample_path("protected_areas"),
            kind="protected_areas",
            city=committed_city,
            layer="protected_areas",
        ).layer
    with engine.connect() as conn:
        after = table_counts(conn)
    assert after["layers"] == before["layers"] + 1
    assert after["protected_areas"] == before["protected_areas"] + info.feature_count
    assert {k: v for k, v in after.items() if k not in {"layers", "protected_areas"}} == {
        k: v for k, v in before.items() if k not in {"layers", "protected_areas"}
    }
