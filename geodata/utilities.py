"""Name the six utility kinds and map the names found in real files onto them."""

from __future__ import annotations

import re
import unicodedata

from geodata.errors import UnknownUtilityError

__all__ = ["UTILITIES", "normalize_utility"]

UTILITIES: tuple[str, ...] = ("water", "power", "heat", "gas", "drainage", "telecom")

# every spelling we accept, already folded (lowercase, no spaces, '-' and ' ' as '_')
_ALIASES: dict[str, str] = {
    **dict.fromkeys(
        (
            "water",
            "water_supply",
            "watersupply",
            "potable_water",
            "drinking_water",
            "water_main",
            "给水",
            "供水",
            "自来水",
            "上水",
            "生活给水",
            "水道",
        ),
        "water",
    ),
    **dict.fromkeys(
        (
            "power",
            "electric",
            "electricity",
            "electrical",
            "power_low_voltage",
            "power_high_voltage",
            "power_cable",
            "lv",
            "hv",
            "电力",
            "供电",
            "电缆",
            "配电",
            "输电",
        ),
        "power",
    ),
    **dict.fromkeys(
        (
            "heat",
            "heating",
            "district_heating",
            "steam",
            "hot_water",
            "热力",
            "供热",
            "供暖",
            "暖气",
            "采暖",
        ),
        "heat",
    ),
    **dict.fromkeys(
        ("gas", "natural_gas", "town_gas", "燃气", "供气", "天然气", "煤气"),
        "gas",
    ),
    **dict.fromkeys(
        (
            "drainage",
            "drain",
            "sewer",
            "sewage",
            "storm",
            "stormwater",
            "storm_sewer",
            "sanitary",
            "sanitary_sewer",
            "wastewater",
            "排水",
            "雨水",
            "污水",
            "雨污",
            "雨污水",
            "下水",
        ),
        "drainage",
    ),
    **dict.fromkeys(
        (
            "telecom",
            "telecoms",
            "telecommunication",
            "telecommunications",
            "communication",
            "communications",
            "comms",
            "fibre",
            "fiber",
            "optical_fibre",
            "optical_fiber",
            "通信",
            "电信",
            "通讯",
            "光缆",
            "弱电",
        ),
        "telecom",
    ),
}
# trailing words that say "pipe/line/network" and carry no kind: 给水管线 -> 给水
_SUFFIXES = (
    "管线",
    "管道",
    "管网",
    "线路",
    "管",
    "线",
    "_pipe",
    "_pipes",
    "_line",
    "_lines",
    "_main",
    "_mains",
    "_network",
)


def normalize_utility(name: object) -> str:
    """Return the canonical utility kind for a name in Chinese or English.

    Parameters
    ----------
    name
        A utility name as found in a file: ``"给水"``, ``"供水管线"``, ``"Storm sewer"``...

    Returns
    -------
    str
        One of :data:`UTILITIES`.

    Raises
    ------
    UnknownUtilityError
        If the name is empty or not a known spelling; the message lists the kinds.

    Examples
    --------
    >>> normalize_utility("供水")
    'water'
    >>> normalize_utility(" Storm-Sewer ")
    'drainage'
    >>> normalize_utility("电信管线")
    'telecom'
    """
    key = _fold(name)
    for candidate in _candidates(key):
        kind = _ALIASES.get(candidate)
        if kind is not None:
            return kind
    msg = (
        f"unknown utility kind {name!r}; expected one of {', '.join(UTILITIES)} "
        "(or 给水/供水, 电力/供电, 热力/供热, 燃气/供气, 排水/雨水/污水, 通信/电信)"
    )
    raise UnknownUtilityError(msg)


def _fold(name: object) -> str:
    if name is None or not isinstance(name, str):
        return ""
    text = unicodedata.normalize("NFKC", name).strip().lower()
    return re.sub(r"[\s\-]+", "_", text)


def _candidates(key: str) -> list[str]:
    found = [key] if key else []
    for suffix in _SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            found.append(key.removesuffix(suffix).rstrip("_"))
    return found
