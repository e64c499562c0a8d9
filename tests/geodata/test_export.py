"""Round trips through every export format, read back with pyogrio and ezdxf."""

from __future__ import annotations

import zipfile
from pathlib import Path

import ezdxf
import pyogrio
import pytest
import shapely

from geodata.export import UTILITY_COLOURS
from geodata.export import export_frame
from geodata.layers import load_layer
from geodata.validate import validate_layer
from tests.geodata.survey_corpus import HARBIN_GK
from tests.geodata.survey_corpus import gbk_shapefile


@pytest.fixture
def lines(tmp_path: Path):  # type: ignore[no-untyped-def]
    source = load_layer(gbk_shapefile(tmp_path))
    return validate_layer(source, kind="underground_lines", crs=HARBIN_GK).rows


@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "kml", "csv"])
def test_gdal_formats_round_trip(lines, tmp_path: Path, fmt: str) -> None:  # type: ignore[no-untyped-def]
    path = export_frame(lines, tmp_path / f"out.{fmt}", fmt=fmt, layer="管线")
    back = pyogrio.read_dataframe(path)
    assert len(back) == len(lines)
    owners = set(back["owner"]) if "owner" in back else set(back["Description"].dropna())
    if fmt != "kml":
        assert owners == {"哈尔滨供排水集团"}


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_shapefile_zip_with_cpg(lines, tmp_path: Path, encoding: str) -> None:  # type: ignore[no-untyped-def]
    path = export_frame(lines, tmp_path / "out.zip", fmt="shp", layer="pipes", encoding=encoding)
    names = zipfile.ZipFile(path).namelist()
    assert "pipes.cpg" in names
    back = load_layer(path)
    assert set(back.frame["owner"]) == {"哈尔滨供排水集团"}
    assert back.frame.crs.to_epsg() == 4551


def test_dxf_for_cad_users(lines, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = export_frame(lines, tmp_path / "out.dxf", fmt="dxf", crs="EPSG:4552")
    doc = ezdxf.readfile(path)
    auditor = doc.audit()
    assert not auditor.has_errors
    assert doc.header["$MEASUREMENT"] == 1
    assert doc.header["$INSUNITS"] == 6
    assert doc.header["$DWGCODEPAGE"] == "ANSI_936"
    layers = {layer.dxf.name: layer.color for layer in doc.layers}
    assert layers["JS_给水"] == UTILITY_COLOURS["water"]
    assert layers["DL_电力"] == UTILITY_COLOURS["power"]
    msp = doc.modelspace()
    texts = [t.dxf.text for t in msp.query("TEXT")]
    assert "给水 DN300" in texts
    assert {t.dxf.style for t in msp.query("TEXT")} == {"中文"}
    # coordinates in the requested zone: back in 4552 they match the lines moved there
    first = next(iter(msp.query("LWPOLYLINE[layer=='JS_给水']")))
    x, y = first.get_points("xy")[0]
    want = lines.to_crs(4552).geometry.iloc[0].coords[0]
    assert shapely.Point(x, y).distance(shapely.Point(want)) < 0.01
    # GDAL reads it back with the Chinese layer names intact
    back = pyogrio.read_dataframe(path)
    assert "JS_给水" in set(back["Layer"])
