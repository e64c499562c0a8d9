"""Check proposed lines against road protection periods, recent digs and existing lines."""

from __future__ import annotations

import datetime as dt
import logging

from routing.standards import excavation_rules

__all__ = ["protection_end"]

logger = logging.getLogger(__name__)


def protection_end(built_on: dt.date | None, overhauled_on: dt.date | None) -> dt.date | None:
    """Last day a road may not be dug under 城市道路管理条例 article 33.

    Five years after a new, expanded or rebuilt road opens; three after an overhaul (the
    years come from ``routing/standards/road_excavation.yaml``). The later end wins.

    Examples
    --------
    >>> protection_end(dt.date(2024, 2, 29), None)
    datetime.date(2029, 2, 28)
    >>> protection_end(dt.date(2015, 5, 1), dt.date(2023, 6, 1))
    datetime.date(2026, 6, 1)
    >>> protection_end(None, None) is None
    True
    """
    rules = excavation_rules()
    ends = []
    if built_on is not None:
        ends.append(_add_years(built_on, int(rules.moratorium_new_road_years.value)))
    if overhauled_on is not None:
        ends.append(_add_years(overhauled_on, int(rules.moratorium_overhauled_road_years.value)))
    return max(ends) if ends else None


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a non-leap target year
        return day.replace(year=day.year + years, day=28)
