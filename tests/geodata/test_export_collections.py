"""Proposals, co-location groups, trench plans and fixed routes exported and read back.

Each is a GeoJSON FeatureCollection in the product (the plan from routing's own
``plan_to_geojson``); it goes out as GeoPackage, GeoJSON and DXF and is read back with
pyogrio and ezdxf.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ezdxf
import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from geodata.errors import CRSError
from geodata.errors import LayerReadError
from geodata.export import SHARED_LAYER
from geodata.export import UTILITY_COLOURS
from geodata.export import collection_frame
from geodata.export import export_collection
from routing.results import TrenchEdge
from routing.results import TrenchPlan
from routing.results import plan_to_geojson
from tests.geodata.survey_corpus import HARBIN_GK
from tests.geodata.survey_corpus import survey_lines

# the city's zone, and the neighbouring zone a CAD user may ask for
ZONE_OUT = "EPSG:4552"
UTILITIES = (("gas", "water"), ("power",), ("heat", "telecom", "water"))


def _lines() -> gpd.GeoDataFrame:
    return survey_lines(len(UTILITIES), crs=HARBIN_GK)


def _plan() -> dict[str, Any]:
    edges = tuple(
        TrenchEdge(k, k + 1, 0, f"seg{k}", float(g.length), 100.0 * g.length, u, "primary", "路", g)
        for k, (g, u) in enumerate(zip(_lines().geometry, UTILITIES, strict=True))
    )
    length = sum(e.length_m for e in edges)
    plan = TrenchPlan(
        edges, (), length, 100 * length, 0.0, 100 * length, "milp", "optimal", 100 * length,
        0.0, 150 * length, 120 * length, (), "proportional", crs=HARBIN_GK,
    )  # fmt: skip
    return plan_to_geojson(plan)


def _groups() -> dict[str, Any]:
    """As geodata.colocation_store.groups_geojson gives them: WGS 84, lists, dates as text."""
    lines = _lines().to_crs(4326)
    features = [
        {
            "type": "Feature",
            "id": 10 + k,
            "geometry": shapely.geometry.mapping(g),
            "properties": {
                "group_id": 10 + k,
                "utilities": list(u),
                "projects": ["P03", "P05"],
                "window_start": "2027-05-01",
                "window_end": "2027-08-31",
                "shared_length_m": 120.5,
            },
        }
        for k, (g, u) in enumerate(zip(lines.geometry, UTILITIES, strict=True))
    ]
    return {"type": "FeatureCollection", "features": features}


def _proposals() -> dict[str, Any]:
    """As the proposals endpoint gives them: lon/lat, one utility each."""
    lines = _lines().to_crs(4326)
    lines["utility"] = ["gas", "power", "water"]
    lines["project"] = "P03"
    lines["applicant"] = "哈尔滨中庆燃气"
    lines["diameter_mm"] = [200.0, None, 300.0]
    return json.loads(lines.to_json(drop_id=True))


def _route() -> dict[str, Any]:
    """A fixed route as the approval flow stores it: coordinates in its own CRS, no member."""
    lines = _lines()
    lines["utilities"] = [",".join(u) for u in UTILITIES]
    lines["edge"] = [f"e{k}" for k in range(len(lines))]
    return json.loads(lines.to_json(drop_id=True))


CASES = {
    "plan": (_plan, None),
    "groups": (_groups, None),
    "proposals": (_proposals, None),
    "route": (_route, HARBIN_GK),
}


@pytest.mark.parametrize("kind", CASES)
@pytest.mark.parametrize("fmt", ["gpkg", "geojson"])
def test_collections_round_trip_through_gdal_formats(tmp_path: Path, kind: str, fmt: str) -> None:
    build, source_crs = CASES[kind]
    collection = build()
    path = export_collection(
        collection, tmp_path / f"{kind}.{fmt}", fmt=fmt, layer=kind, source_crs=source_crs
    )
    back = pyogrio.read_dataframe(path)
    assert len(back) == len(collection["features"])
    truth = collection_frame(collection, crs=source_crs)
    assert back.crs.equals(truth.crs if fmt == "gpkg" else "EPSG:4326")
    moved = truth.to_crs(back.crs).geometry.to_numpy()
    tolerance = 1e-3 if back.crs.is_projected else 1e-7
    assert float(np.max(shapely.hausdorff_distance(back.geometry.to_numpy(), moved))) < tolerance
    if "utilities" in truth and kind != "route":
        # lists are JSON text in a GeoPackage, arrays in GeoJSON
        read = [json.loads(v) if isinstance(v, str) else list(v) for v in back["utilities"]]
        assert read == [list(u) for u in UTILITIES]
    if fmt == "geojson":  # RFC 7946: no crs member, 7 decimals
        written = json.loads(path.read_text(encoding="utf-8"))
        assert "crs" not in written
        x, y = written["features"][0]["geometry"]["coordinates"][0]
        assert (round(x, 7), round(y, 7)) == (x, y)


@pytest.mark.parametrize("kind", CASES)
def test_collections_as_dxf_for_cad_users(tmp_path: Path, kind: str) -> None:
    build, source_crs = CASES[kind]
    collection = build()
    path = export_collection(
        collection, tmp_path / f"{kind}.dxf", fmt="dxf", source_crs=source_crs, crs=ZONE_OUT
    )
    doc = ezdxf.readfile(path)
    assert not doc.audit().has_errors
    assert (doc.header["$MEASUREMENT"], doc.header["$INSUNITS"]) == (1, 6)
    assert doc.header["$DWGCODEPAGE"] == "ANSI_936"
    msp = doc.modelspace()
    lines = list(msp.query("LWPOLYLINE"))
    assert len(lines) == len(collection["features"])
    layers = {layer.dxf.name: layer.color for layer in doc.layers}
    texts = {t.dxf.layer: t.dxf.text for t in msp.query("TEXT")}
    if kind == "proposals":  # one utility each: the utility's own layer, colour and size
        assert layers["RQ_燃气"] == UTILITY_COLOURS["gas"]
        assert texts["RQ_燃气"] == "燃气 DN200"
        assert texts["DL_电力"] == "电力"
    else:  # the shared trenches on their own layer, labelled with what they carry
        assert [line.dxf.layer for line in lines] == [SHARED_LAYER, "DL_电力", SHARED_LAYER]
        assert layers["DL_电力"] == UTILITY_COLOURS["power"]
        labels = sorted(t.dxf.text for t in msp.query(f"TEXT[layer=='{SHARED_LAYER}']"))
        assert labels == ["同沟 热力+电信+给水", "同沟 燃气+给水"]
    # the coordinates are in the zone asked for
    want = _lines().to_crs(ZONE_OUT).geometry.iloc[1]
    (power,) = [line for line in lines if line.dxf.layer == "DL_电力"]
    drawn = shapely.LineString(power.get_points("xy"))
    assert shapely.hausdorff_distance(drawn, want) < 0.01


def test_a_dxf_in_degrees_is_refused_naming_the_fix(tmp_path: Path) -> None:
    with pytest.raises(CRSError, match=r"in EPSG:4326 \(degrees\); give crs= .*EPSG:4551"):
        export_collection(_groups(), tmp_path / "groups.dxf", fmt="dxf")


def test_collection_crs_from_the_caller_the_member_or_wgs84() -> None:
    legacy = {**_route(), "crs": {"type": "name", "properties": {"name": HARBIN_GK}}}
    assert collection_frame(legacy).crs.to_epsg() == 4551
    assert collection_frame(_plan()).crs.to_epsg() == 4551
    assert collection_frame(_groups()).crs.to_epsg() == 4326
    assert collection_frame(_route(), crs=HARBIN_GK).crs.to_epsg() == 4551
    assert list(collection_frame(_groups())["feature_id"]) == [10, 11, 12]


def test_not_a_feature_collection_is_refused() -> None:
    with pytest.raises(LayerReadError, match="not a GeoJSON FeatureCollection"):
        collection_frame({"type": "Feature", "geometry": None, "properties": {}})


def test_dxf_labels_run_along_their_line_and_read_upright(tmp_path: Path) -> None:
    lines = gpd.GeoDataFrame(
        {"utility": ["gas", "water"]},
        geometry=[
            shapely.LineString([(500000, 5060000), (500100, 5060100)]),  # 45° north-east
            shapely.LineString([(500100, 5060000), (500000, 5060000)]),  # drawn westwards
        ],
        crs=HARBIN_GK,
    )
    path = export_collection(json.loads(lines.to_json()), tmp_path / "l.dxf", fmt="dxf",
                             source_crs=HARBIN_GK)  # fmt: skip
    texts = {t.dxf.layer: t for t in ezdxf.readfile(path).modelspace().query("TEXT")}
    assert texts["RQ_燃气"].dxf.rotation == pytest.approx(45.0)
    assert texts["JS_给水"].dxf.rotation == pytest.approx(0.0)  # upright, not upside down
    x, y, _ = texts["RQ_燃气"].dxf.insert
    assert (x, y) == pytest.approx((500050, 5060050))


def test_polygons_export_to_dxf_with_a_label_inside(tmp_path: Path) -> None:
    from tests.helpers import read_sample  # noqa: PLC0415

    areas = read_sample("protected_areas").head(3).to_crs(HARBIN_GK)
    path = tmp_path / "areas.dxf"
    from geodata.export import export_frame  # noqa: PLC0415

    export_frame(areas, path, fmt="dxf")
    msp = ezdxf.readfile(path).modelspace()
    assert all(p.closed for p in msp.query("LWPOLYLINE"))
    assert len(msp.query("TEXT")) == len(areas)


def test_a_plan_read_back_from_geojson_exports_to_dxf_with_its_shared_trenches(
    tmp_path: Path,
) -> None:
    back = pyogrio.read_dataframe(
        export_collection(_plan(), tmp_path / "plan.geojson", fmt="geojson")
    )  # utilities come back as arrays
    from geodata.export import export_frame  # noqa: PLC0415

    path = export_frame(back, tmp_path / "plan.dxf", fmt="dxf", crs=HARBIN_GK)
    layers = [p.dxf.layer for p in ezdxf.readfile(path).modelspace().query("LWPOLYLINE")]
    assert layers == [SHARED_LAYER, "DL_电力", SHARED_LAYER]


@pytest.mark.parametrize("fmt", ["shp", "kml", "csv"])
def test_collections_in_the_other_formats(tmp_path: Path, fmt: str) -> None:
    from geodata.export import EXPORT_FORMATS  # noqa: PLC0415
    from geodata.layers import load_layer  # noqa: PLC0415

    path = export_collection(
        _groups(), tmp_path / f"groups{EXPORT_FORMATS[fmt][0]}", fmt=fmt, crs=HARBIN_GK,
        encoding="gbk",
    )  # fmt: skip
    back = load_layer(path).frame if fmt == "shp" else pyogrio.read_dataframe(path)
    assert len(back) == 3
    if fmt == "shp":  # the city's zone, GBK with its .cpg, lists as JSON text
        assert back.crs.to_epsg() == 4551
        assert json.loads(back["utilities"].iloc[0]) == ["gas", "water"]
    if fmt == "csv":
        assert back["WKT"].iloc[0].startswith("LINESTRING")


def test_dxf_labels_give_sizes_as_the_survey_wrote_them(tmp_path: Path) -> None:
    from geodata.export import export_frame  # noqa: PLC0415
    from geodata.layers import load_layer  # noqa: PLC0415
    from geodata.validate import validate_layer  # noqa: PLC0415
    from tests.geodata.survey_corpus import CODED_ROWS  # noqa: PLC0415
    from tests.geodata.survey_corpus import coded_geopackage  # noqa: PLC0415

    rows = validate_layer(
        load_layer(coded_geopackage(tmp_path)), kind="underground_lines", crs=HARBIN_GK
    ).rows
    path = export_frame(rows, tmp_path / "coded.dxf", fmt="dxf")
    texts = [t.dxf.text for t in ezdxf.readfile(path).modelspace().query("TEXT")]
    assert len(texts) == len(CODED_ROWS)
    assert texts[:6] == [
        "给水 DN300",
        "排水 600*400",  # a box as written, not DN600
        "排水 De110",  # a PE pipe's outside diameter, not DN110
        "排水 300mm",
        "燃气 D219×6",
        "热力 2×DN500",
    ]
    assert texts[6:] == ["给水", "电力", "其他"]  # no size: "/", "0", blank


def test_a_survey_exported_to_dxf_reads_back_as_the_same_lines(tmp_path: Path) -> None:
    """Layers by survey code (YS_雨水 apart from WS_污水) and labels with sizes: the
    importer reads the product's own DXF back to the same utilities, sub-types and sizes."""
    from geodata.export import export_frame  # noqa: PLC0415
    from geodata.layers import load_layer  # noqa: PLC0415
    from geodata.validate import validate_layer  # noqa: PLC0415
    from tests.geodata.survey_corpus import coded_geopackage  # noqa: PLC0415

    rows = validate_layer(
        load_layer(coded_geopackage(tmp_path)), kind="underground_lines", crs=HARBIN_GK
    ).rows
    path = export_frame(rows, tmp_path / "survey.dxf", fmt="dxf")
    layers = {p.dxf.layer for p in ezdxf.readfile(path).modelspace().query("LWPOLYLINE")}
    assert {"YS_雨水", "WS_污水", "PS_排水", "XH_信号"} <= layers
    back = validate_layer(
        load_layer(path, crs=HARBIN_GK), kind="underground_lines", crs=HARBIN_GK
    ).rows
    assert list(back["utility"]) == list(rows["utility"])
    assert list(back["subtype"]) == list(rows["subtype"])
    # sizes written in a marked form come back; 300mm (a bare number) does not
    sizes = [None if k == 3 else d for k, d in enumerate(rows["diameter_mm"])]
    assert list(back["diameter_mm"]) == sizes
    hausdorff = shapely.hausdorff_distance(back.geometry.to_numpy(), rows.geometry.to_numpy())
    assert float(np.max(hausdorff)) < 0.01
