"""The survey rules hold in PostGIS too: what the validation keeps is what is stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geodata.importer import import_layer
from geodata.storage import CityInfo
from geodata.storage import create_city
from tests.geodata.survey_corpus import CODED_ROWS
from tests.geodata.survey_corpus import HARBIN_GK
from tests.geodata.survey_corpus import SHEET_LAYERS
from tests.geodata.survey_corpus import SHEET_SIZES
from tests.geodata.survey_corpus import SHEET_TEXTS
from tests.geodata.survey_corpus import cad_sheet
from tests.geodata.survey_corpus import coded_geopackage
from tests.helpers import read_sample

pytestmark = pytest.mark.db


@pytest.fixture
def city(db_session: Session) -> CityInfo:
    return create_city(
        db_session, name="harbin_rules", crs=HARBIN_GK, extent=read_sample("city").geometry.iloc[0]
    )


def _stored(session: Session, layer_id: int) -> list[tuple[object, ...]]:
    query = text(
        "SELECT utility, subtype, diameter_mm, attrs FROM underground_lines "
        "WHERE layer_id = :id ORDER BY id"
    )
    return [tuple(row) for row in session.execute(query, {"id": layer_id})]


def test_coded_survey_is_stored_with_subtypes_sizes_and_empty_not_zero(
    db_session: Session, city: CityInfo, tmp_path: Path
) -> None:
    result = import_layer(
        db_session, coded_geopackage(tmp_path), kind="underground_lines", city=city.name
    )
    rows = _stored(db_session, result.layer.id)
    assert [(u, s, d) for u, s, d, _ in rows] == [(r[2], r[3], r[4]) for r in CODED_ROWS]
    attrs = [a for *_, a in rows]
    assert [a["source_type"] for a in attrs] == [r[0] for r in CODED_ROWS]  # type: ignore[index]
    assert attrs[1]["section"] == "box"  # type: ignore[index]
    assert (attrs[1]["box_width_mm"], attrs[1]["box_height_mm"]) == (600.0, 400.0)  # type: ignore[index]
    null_sizes = db_session.execute(
        text("SELECT count(*) FROM underground_lines WHERE layer_id = :id AND diameter_mm = 0"),
        {"id": result.layer.id},
    ).scalar_one()
    assert null_sizes == 0


def test_cad_sheet_is_stored_by_layer_with_labels(
    db_session: Session, city: CityInfo, tmp_path: Path
) -> None:
    result = import_layer(
        db_session, cad_sheet(tmp_path), kind="underground_lines", city=city.name, crs=HARBIN_GK
    )
    assert result.report.ok
    assert "cad_other_layers" in {w.code for w in result.report.warnings}
    rows = _stored(db_session, result.layer.id)
    assert [(u, s) for u, s, _, _ in rows] == list(SHEET_LAYERS.values())
    assert [d for _, _, d, _ in rows] == list(SHEET_SIZES)
    labels = [a["cad_label"] for *_, a in rows]  # type: ignore[index]
    assert all(t in label for t, label in zip(SHEET_TEXTS, labels, strict=True))
