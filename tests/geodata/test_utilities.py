from __future__ import annotations

import pytest

from geodata.errors import UnknownUtilityError
from geodata.utilities import UTILITIES
from geodata.utilities import normalize_utility


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("给水", "water"),
        ("供水", "water"),
        ("给水管线", "water"),
        ("water_supply", "water"),
        ("Water", "water"),
        ("电力", "power"),
        ("供电", "power"),
        ("电力管道", "power"),
        ("power_low_voltage", "power"),
        ("热力", "heat"),
        ("供热", "heat"),
        ("District heating", "heat"),
        ("燃气", "gas"),
        ("供气", "gas"),
        ("天然气管", "gas"),
        ("排水", "drainage"),
        ("雨水", "drainage"),
        ("污水", "drainage"),
        ("Storm-Sewer", "drainage"),
        ("通信", "telecom"),
        ("电信", "telecom"),
        ("telecommunications", "telecom"),
        ("ｔｅｌｅｃｏｍ", "telecom"),  # full-width letters from Chinese input methods
    ],
)
def test_normalize_utility_accepts_chinese_english_and_variants(name: str, kind: str) -> None:
    assert normalize_utility(name) == kind
    assert kind in UTILITIES


@pytest.mark.parametrize("name", ["", "   ", "snow_melting", "消雪", "管", "oil", None, 3])
def test_normalize_utility_refuses_unknown_names(name: object) -> None:
    with pytest.raises(UnknownUtilityError, match="expected one of water, power"):
        normalize_utility(name)


def test_utilities_are_the_six_kinds() -> None:
    assert UTILITIES == ("water", "power", "heat", "gas", "drainage", "telecom")
