"""Count working days on the Chinese calendar: public holidays and adjusted working days.

The reform's clocks (即办, 1 working day for the survey, the permits and the acceptance) run
on working days as published by the State Council each year; ``chinese-calendar`` carries
those notices. A year it does not know yet falls back to Monday-Friday and is flagged
``provisional`` so a deadline is never silently wrong.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import chinese_calendar

from api.approvals.errors import CalendarRangeError

__all__ = [
    "TZ",
    "Deadline",
    "add_working_days",
    "calendar_knows",
    "deadline_after",
    "is_working_day",
    "local_date",
    "working_days_between",
]

logger = logging.getLogger(__name__)

TZ = ZoneInfo("Asia/Shanghai")
_MAX_SCAN_DAYS = 60  # the longest run of non-working days is 9 (Spring Festival 2026)


@dataclass(frozen=True)
class Deadline:
    """The last working day of a clock, and the instant it ends (midnight, Beijing time)."""

    due_date: dt.date
    due_at: dt.datetime
    working_days: int
    provisional: bool  # the calendar does not know every day counted


def calendar_knows(day: dt.date) -> bool:
    """Return whether ``chinese-calendar`` has the official notice for ``day``'s year.

    Examples
    --------
    >>> calendar_knows(dt.date(2026, 2, 17))
    True
    """
    try:
        chinese_calendar.is_workday(day)
    except NotImplementedError:
        return False
    return True


def is_working_day(day: dt.date, *, strict: bool = False) -> bool:
    """Return whether ``day`` is a working day in mainland China.

    Parameters
    ----------
    day
        The calendar date.
    strict
        Raise for a year the calendar does not know instead of falling back to Mon-Fri.

    Raises
    ------
    CalendarRangeError
        If ``strict`` and the year is unknown.

    Examples
    --------
    >>> is_working_day(dt.date(2026, 2, 17))  # Spring Festival
    False
    >>> is_working_day(dt.date(2026, 2, 14))  # adjusted working Saturday
    True
    """
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError as exc:
        if strict:
            msg = f"no official working-day calendar for {day.year} (chinese-calendar: {exc})"
            raise CalendarRangeError(msg) from exc
        logger.warning("no working-day calendar for %d; counting Mon-Fri", day.year)
        return day.weekday() < 5


def add_working_days(day: dt.date, n: int) -> dt.date:
    """Return the ``n``-th working day after ``day``; ``n == 0`` is the first on or after.

    Raises
    ------
    ValueError
        If ``n`` is negative.

    Examples
    --------
    >>> add_working_days(dt.date(2026, 2, 13), 1)  # Friday before the Spring Festival
    datetime.date(2026, 2, 14)
    >>> add_working_days(dt.date(2026, 2, 14), 1)  # then nine days off
    datetime.date(2026, 2, 24)
    """
    if n < 0:
        msg = f"n must be >= 0, got {n}"
        raise ValueError(msg)
    current = day
    if n == 0:
        return _next_working(current, include=True)
    for _ in range(n):
        current = _next_working(current, include=False)
    return current


def deadline_after(start: dt.datetime, n: int) -> Deadline:
    """Return the deadline of an ``n``-working-day clock started at ``start``.

    ``n == 0`` is 即办: the same working day (the next one if started on a day off). The
    deadline is the end of the due date, Beijing time.
    """
    start_day = local_date(start)
    due = add_working_days(start_day, n)
    end = dt.datetime.combine(due + dt.timedelta(days=1), dt.time(0, 0), tzinfo=TZ)
    provisional = not (calendar_knows(start_day) and calendar_knows(due))
    return Deadline(due_date=due, due_at=end, working_days=n, provisional=provisional)


def working_days_between(start: dt.datetime, end: dt.datetime) -> int:
    """Return the working days used from ``start`` to ``end``: working days after the start day
    up to and including the end day. A step finished on its first working day used 0; a step
    started on a day off and finished on the next working day also used 0.

    Examples
    --------
    >>> s = dt.datetime(2026, 2, 13, 9, tzinfo=TZ)
    >>> working_days_between(s, dt.datetime(2026, 2, 24, 9, tzinfo=TZ))
    2
    """
    first = add_working_days(local_date(start), 0)
    last = local_date(end)
    if last <= first:
        return 0
    count = 0
    day = first + dt.timedelta(days=1)
    while day <= last:
        count += is_working_day(day)
        day += dt.timedelta(days=1)
    return count


def local_date(instant: dt.datetime) -> dt.date:
    """Return the Beijing-time date of an aware datetime.

    Raises
    ------
    ValueError
        If ``instant`` is naive.
    """
    if instant.tzinfo is None:
        msg = f"naive datetime {instant.isoformat()}: give a time zone"
        raise ValueError(msg)
    return instant.astimezone(TZ).date()


def _next_working(day: dt.date, *, include: bool) -> dt.date:
    current = day if include else day + dt.timedelta(days=1)
    for _ in range(_MAX_SCAN_DAYS):
        if is_working_day(current):
            return current
        current += dt.timedelta(days=1)
    msg = f"no working day within {_MAX_SCAN_DAYS} days of {day}"
    raise CalendarRangeError(msg)
