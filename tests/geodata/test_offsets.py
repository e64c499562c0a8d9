from __future__ import annotations

import numpy as np
import pytest

from geodata.offsets import bd09_to_gcj02
from geodata.offsets import gcj02_to_bd09
from geodata.offsets import gcj02_to_wgs84
from geodata.offsets import wgs84_to_gcj02

# a grid over Heilongjiang and the rest of China
LON, LAT = (a.ravel() for a in np.meshgrid(np.linspace(74, 134.9, 25), np.linspace(18, 53.4, 25)))


def test_gcj02_round_trip_is_below_a_centimetre() -> None:
    lon, lat = gcj02_to_wgs84(*wgs84_to_gcj02(LON, LAT))
    assert np.abs(lon - LON).max() < 1e-7
    assert np.abs(lat - LAT).max() < 1e-7


def test_bd09_round_trip_is_below_a_centimetre() -> None:
    lon, lat = bd09_to_gcj02(*gcj02_to_bd09(LON, LAT))
    assert np.abs(lon - LON).max() < 1e-7
    assert np.abs(lat - LAT).max() < 1e-7


def test_gcj02_moves_harbin_by_about_500_m() -> None:
    lon, lat = wgs84_to_gcj02(np.array([126.63]), np.array([45.75]))
    east = (lon[0] - 126.63) * 111_320 * np.cos(np.radians(45.75))
    north = (lat[0] - 45.75) * 110_570
    assert np.hypot(east, north) == pytest.approx(510, abs=30)


def test_outside_china_is_unchanged() -> None:
    lon, lat = wgs84_to_gcj02(np.array([139.7, 2.35]), np.array([35.7, 48.85]))
    assert list(lon) == [139.7, 2.35]
    assert list(lat) == [35.7, 48.85]
