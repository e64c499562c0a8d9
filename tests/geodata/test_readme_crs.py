"""Every EPSG code the README's CRS section names is what PROJ's EPSG database says it is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import shapely
from pyproj import CRS

from geodata.crs import check_city_crs
from geodata.crs import suggest_city_crs

README = Path(__file__).parents[2] / "README.md"
# city centres (lon, lat), from public gazetteers, to check the zone of each city listed
CENTRES = {
    "Qiqihar": (123.92, 47.35),
    "Daxing'anling (Jiagedaqi)": (124.12, 50.42),
    "Harbin": (126.63, 45.75),
    "Daqing": (125.10, 46.59),
    "Suihua": (126.97, 46.65),
    "Hegang": (130.28, 47.33),
    "Jiamusi": (130.32, 46.80),
    "Mudanjiang": (129.63, 44.55),
    "Yichun": (128.84, 47.73),
    "Shuangyashan": (131.16, 46.65),
    "Jixi": (130.97, 45.30),
    "Qitaihe": (131.00, 45.77),
    "Fuyuan": (134.31, 48.36),
}


def _crs_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("A city is stored in its CGCS2000")
    return text[start : text.index("`city add` refuses", start)]


def _heilongjiang_rows() -> list[tuple[int, list[str], int, int]]:
    rows = re.findall(r"^\| (\d+)°E \| ([^|]+) \| (\d+) \| (\d+) \|$", _crs_section(), re.M)
    return [
        (int(m), [c.strip() for c in cities.split(",")], int(a), int(b)) for m, cities, a, b in rows
    ]


def test_the_section_has_the_five_heilongjiang_zones() -> None:
    assert [row[0] for row in _heilongjiang_rows()] == [123, 126, 129, 132, 135]


@pytest.mark.parametrize(("meridian", "cities", "plain", "prefixed"), _heilongjiang_rows())
def test_heilongjiang_codes_name_their_zone_and_fit_their_cities(
    meridian: int, cities: list[str], plain: int, prefixed: int
) -> None:
    assert CRS.from_epsg(plain).name == f"CGCS2000 / 3-degree Gauss-Kruger CM {meridian}E"
    assert CRS.from_epsg(prefixed).name == f"CGCS2000 / 3-degree Gauss-Kruger zone {meridian // 3}"
    for city in cities:
        lon, lat = CENTRES[city]
        extent = shapely.box(lon - 0.1, lat - 0.1, lon + 0.1, lat + 0.1)
        assert suggest_city_crs(extent).startswith(f"EPSG:{plain} "), city
        for code in (plain, prefixed):
            assert check_city_crs(f"EPSG:{code}", extent).to_epsg() == code


def test_the_ranges_are_the_3_degree_zones_75_to_135_east() -> None:
    section = _crs_section()
    assert "| 4534–4554 |" in section
    assert "| 4513–4533 |" in section
    for k in range(21):
        meridian = 75 + 3 * k
        assert CRS.from_epsg(4534 + k).name == f"CGCS2000 / 3-degree Gauss-Kruger CM {meridian}E"
        assert CRS.from_epsg(4513 + k).name == f"CGCS2000 / 3-degree Gauss-Kruger zone {25 + k}"
    # the neighbours of the ranges are something else
    assert "3-degree" not in CRS.from_epsg(4512).name
    assert "3-degree" not in CRS.from_epsg(4555).name


def test_the_other_codes_named_are_what_the_section_says() -> None:
    section = _crs_section()
    assert "EPSG:4547 is the 114°E zone" in section
    assert CRS.from_epsg(4547).name == "CGCS2000 / 3-degree Gauss-Kruger CM 114E"
    assert "6-degree zones EPSG:4491–4512" in section
    for code in range(4491, 4513):
        assert CRS.from_epsg(code).name.startswith("CGCS2000 / Gauss-Kruger ")
    assert "EPSG:4490 (CGCS2000 longitude/latitude)" in section
    assert CRS.from_epsg(4490).is_geographic
    assert CRS.from_epsg(4490).name == "China Geodetic Coordinate System 2000"
