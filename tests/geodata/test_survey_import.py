"""The survey corpus imported into the real PostGIS: stored right, or refused for the right reason."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from geodata.errors import LayerValidationError
from geodata.importer import import_layer
from geodata.offsets import to_offset_system
from geodata.storage import CityInfo
from geodata.storage import create_city
from geodata.storage import read_features
from tests.conftest import table_counts
from tests.geodata.survey_corpus import CAD_LAYERS
from tests.geodata.survey_corpus import HARBIN_GK
from tests.geodata.survey_corpus import cad_drawing
from tests.geodata.survey_corpus import gbk_shapefile
from tests.geodata.survey_corpus import gbk_zip
from tests.geodata.survey_corpus import survey_lines
from tests.geodata.survey_corpus import utf8_shapefile
from tests.helpers import read_sample
from tests.helpers import sample_path

pytestmark = pytest.mark.db


@pytest.fixture
def city(db_session: Session) -> CityInfo:
    info = create_city(
        db_session,
        name="harbin_survey",
        crs=HARBIN_GK,
        extent=read_sample("city").geometry.iloc[0],
    )
    import_layer(db_session, sample_path("roads"), kind="roads", city=info.name, layer="roads")
    return info


def test_every_survey_delivery_imports(db_session: Session, city: CityInfo, tmp_path: Path) -> None:
    (tmp_path / "z").mkdir()
    deliveries = [
        (gbk_shapefile(tmp_path), {}),
        (utf8_shapefile(tmp_path), {}),
        (gbk_zip(tmp_path, gbk_shapefile(tmp_path / "z")), {}),
        (cad_drawing(tmp_path), {"crs": HARBIN_GK}),
    ]
    layer_ids = []
    for path, options in deliveries:
        result = import_layer(db_session, path, kind="underground_lines", city=city.name, **options)
        assert result.report.ok
        layer_ids.append(result.layer.id)
    stored = read_features(db_session, city=city.name, kind="underground_lines")
    drawn = stored[stored["layer_id"] == layer_ids[-1]]
    assert sorted(zip(drawn["utility"], drawn["subtype"].fillna(""), strict=True)) == sorted(
        (u, s or "") for u, s in CAD_LAYERS.values()
    )
    assert {"storm", "sewer", "reclaimed", "street_lighting"} <= set(stored["subtype"].dropna())
    assert "哈尔滨供排水集团" in set(stored["owner"])


@pytest.mark.parametrize(("system", "shift_m"), [("gcj02", 510), ("bd09", 1300)])
def test_web_map_offset_copies_are_refused_with_the_offset_and_the_fix(  # noqa: PLR0917 (fixtures)
    db_session: Session,
    connection: Connection,
    city: CityInfo,
    tmp_path: Path,
    system: str,
    shift_m: int,
) -> None:
    path = _lines_file(tmp_path, system)
    before = table_counts(connection)
    with pytest.raises(LayerValidationError) as caught:
        import_layer(db_session, path, kind="underground_lines", city=city.name)
    (problem,) = caught.value.detail["problems"]
    assert problem["code"] == "offset_coordinates"
    assert f"--from {system}" in problem["message"]
    found = re.search(r"shifted about (\d+) m", problem["message"])
    assert found is not None
    # the issue measured about 500 m (GCJ-02) and 1,300 m (BD-09) in Harbin
    assert abs(int(found.group(1)) - shift_m) < 20
    assert table_counts(connection) == before


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_offset_from_converts_back_onto_the_real_lines(
    db_session: Session, city: CityInfo, tmp_path: Path, system: str
) -> None:
    result = import_layer(
        db_session,
        _lines_file(tmp_path, system),
        kind="underground_lines",
        city=city.name,
        offset_from=system,
    )
    stored = read_features(
        db_session, city=city.name, kind="underground_lines", layer_id=result.layer.id
    )
    truth = survey_lines(12, crs=HARBIN_GK).geometry.to_numpy()
    gaps = shapely.hausdorff_distance(stored.geometry.to_numpy(), truth)
    assert float(np.max(gaps)) < 0.05


def test_lines_in_true_wgs84_are_not_flagged(
    db_session: Session, city: CityInfo, tmp_path: Path
) -> None:
    frame = survey_lines(12)
    frame["utility"] = "JS给水"
    path = tmp_path / "true.geojson"
    frame.to_file(path, engine="pyogrio")
    assert import_layer(db_session, path, kind="underground_lines", city=city.name).report.ok


def _lines_file(folder: Path, system: str) -> Path:
    frame = survey_lines(12)
    moved = to_offset_system(frame.geometry.to_numpy(), system)
    out = gpd.GeoDataFrame({"utility": ["RQ燃气"] * len(frame)}, geometry=list(moved), crs=4326)
    path = folder / f"{system}.geojson"
    out.to_file(path, engine="pyogrio")
    return path
