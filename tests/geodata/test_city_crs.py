"""A city's CRS must fit its extent: area of use covers it, scale error within 0.1 %."""

from __future__ import annotations

import pytest
import shapely

from geodata.crs import check_city_crs
from geodata.crs import scale_error
from geodata.crs import suggest_city_crs
from geodata.errors import CRSError

HARBIN = shapely.box(126.4, 45.55, 126.88, 45.94)
HEGANG = shapely.box(129.9, 47.2, 130.6, 47.5)


@pytest.mark.parametrize(
    ("crs", "extent"),
    [
        ("EPSG:4551", HARBIN),
        ("EPSG:4530", HARBIN),
        ("EPSG:32652", HARBIN),
        ("EPSG:4552", HEGANG),
        ("EPSG:4531", HEGANG),
    ],
)
def test_fitting_crs_are_accepted(crs: str, extent: shapely.Polygon) -> None:
    assert check_city_crs(crs, extent).to_epsg() == int(crs.split(":")[1])


def test_web_mercator_is_refused_with_its_distortion_and_the_zone_that_fits() -> None:
    with pytest.raises(CRSError) as caught:
        check_city_crs("EPSG:3857", HEGANG)
    message = str(caught.value)
    assert "distorts lengths by up to 4" in message  # 1/cos(47.5°) - 1 = 48 %
    assert "use EPSG:4552" in message


def test_distant_utm_zone_is_refused_by_its_area_of_use() -> None:
    with pytest.raises(CRSError, match=r"does not cover the city's extent.*use EPSG:4551"):
        check_city_crs("EPSG:32633", HARBIN)  # UTM 33N, central meridian 15°E


def test_neighbouring_gk_zone_is_refused() -> None:
    with pytest.raises(CRSError, match="use EPSG:4552"):
        check_city_crs("EPSG:4551", HEGANG)


@pytest.mark.parametrize(
    "extent", [shapely.box(45.55, 126.4, 45.94, 126.88), shapely.box(47.2, 129.9, 47.5, 130.6)]
)
def test_extent_typed_lat_lon_is_refused(extent: shapely.Polygon) -> None:
    with pytest.raises(CRSError, match="looks like lat,lon"):
        check_city_crs("EPSG:4551", extent)


def test_scale_error_matches_the_secant_of_latitude_for_mercator() -> None:
    # reference: Mercator's scale is sec(latitude); at 50° N that is 1.556
    assert scale_error("EPSG:3857", shapely.box(126.5, 49.99, 126.51, 50.0)) == pytest.approx(
        0.5557, abs=0.001
    )


def test_suggestion_for_harbin_and_hegang() -> None:
    assert suggest_city_crs(HARBIN).startswith("EPSG:4551")
    assert suggest_city_crs(HEGANG).startswith("EPSG:4552")
