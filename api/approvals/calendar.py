"""Count working days on the Chinese calendar: public holidays and adjusted working days.

The reform's clocks (即办, 1 working day for the survey, the permits and the acceptance) run
on working days as published by the State Council each year; ``chinese-calendar`` carries
those notices. For a year it does not know yet the city keeps the notice as data, in a
holiday file (``api/approvals/data/holidays.yaml``, or the file ``COTRENCH_HOLIDAY_FILE``
names). A year neither knows falls back to Monday-Friday and every deadline touching it is
flagged ``provisional`` so a deadline is never silently wrong.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar
import yaml

from api.approvals.errors import CalendarRangeError

__all__ = [
    "DEFAULT_HOLIDAY_FILE",
    "TZ",
    "CityYear",
    "Deadline",
    "add_working_days",
    "calendar_knows",
    "deadline_after",
    "is_provisional",
    "is_working_day",
    "load_holiday_file",
    "local_date",
    "use_holiday_file",
    "working_days_between",
]

logger = logging.getLogger(__name__)

TZ = ZoneInfo("Asia/Shanghai")
_MAX_SCAN_DAYS = 60  # the longest run of non-working days is 9 (Spring Festival 2026)
DEFAULT_HOLIDAY_FILE = Path(__file__).parent / "data" / "holidays.yaml"
_holiday_file: Path | None = None  # set by use_holiday_file; None: the environment or default


@dataclass(frozen=True)
class CityYear:
    """One year of the State Council's notice, as the city keeps it in its holiday file."""

    year: int
    holidays: frozenset[dt.date]  # 放假
    workdays: frozenset[dt.date]  # 调休上班
    source: str


@dataclass(frozen=True)
class Deadline:
    """The last working day of a clock, and the instant it ends (midnight, Beijing time)."""

    due_date: dt.date
    due_at: dt.datetime
    working_days: int
    provisional: bool  # the calendar does not know every day counted


def holiday_file() -> Path:
    """The city's holiday file in use: set by :func:`use_holiday_file`, else the environment's
    ``COTRENCH_HOLIDAY_FILE``, else the one shipped in ``api/approvals/data``."""
    if _holiday_file is not None:
        return _holiday_file
    env = os.environ.get("COTRENCH_HOLIDAY_FILE")
    return Path(env) if env else DEFAULT_HOLIDAY_FILE


def use_holiday_file(path: Path | None) -> Path | None:
    """Count working days with the holiday file ``path`` (``None``: back to the default).

    The file is read (and checked) at once; return the file set before, to restore it.

    Raises
    ------
    CalendarRangeError
        If the file cannot be read or an entry is not a date.
    """
    global _holiday_file  # noqa: PLW0603 - the one process-wide calendar
    before = _holiday_file
    if path is not None:
        load_holiday_file(path)
    _holiday_file = path
    return before


def load_holiday_file(path: Path) -> dict[int, CityYear]:
    """Read a city holiday file: ``years: {YYYY: {source, holidays: [...], workdays: [...]}}``.

    A holiday is a date or a ``{from: date, to: date}`` range (inclusive); a workday is a date.

    Raises
    ------
    CalendarRangeError
        If the file is missing or unreadable, or an entry is not a date of its year.
    """
    return _load(Path(path).resolve(), _mtime(Path(path)))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError as exc:
        msg = f"节假日文件无法读取 / holiday file unreadable: {path}: {exc.strerror}"
        raise CalendarRangeError(msg) from exc


@functools.lru_cache(maxsize=8)
def _load(path: Path, _mtime: float) -> dict[int, CityYear]:
    where = str(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, ValueError, yaml.YAMLError) as exc:  # ValueError: a date like 2027-13-01
        msg = f"节假日文件无法读取 / holiday file unreadable: {where}: {exc}"
        raise CalendarRangeError(msg) from exc
    years = doc.get("years") if isinstance(doc, dict) else None
    if years is None:
        years = {}
    if not isinstance(years, dict):
        msg = f"节假日文件格式有误 / holiday file invalid: {where}: 'years' must be a mapping"
        raise CalendarRangeError(msg)
    out: dict[int, CityYear] = {}
    for key, entry in years.items():
        year = _year(key, where)
        if not isinstance(entry, dict):
            msg = (
                f"节假日文件格式有误 / holiday file invalid: {where}: years.{key} is not a mapping"
            )
            raise CalendarRangeError(msg)
        holidays = _days(entry.get("holidays") or [], year, f"{where}: years.{key}.holidays")
        workdays = _days(entry.get("workdays") or [], year, f"{where}: years.{key}.workdays")
        both = holidays & workdays
        if both:
            msg = (
                f"节假日文件有误 / holiday file invalid: {where}: years.{key}: "
                f"both holiday and workday: {', '.join(sorted(map(str, both)))}"
            )
            raise CalendarRangeError(msg)
        out[year] = CityYear(year, holidays, workdays, str(entry.get("source") or ""))
    return out


def _year(key: Any, where: str) -> int:
    try:
        year = int(key)
    except (TypeError, ValueError):
        year = 0
    if not 1900 < year < 3000:
        msg = f"节假日文件格式有误 / holiday file invalid: {where}: years.{key} is not a year"
        raise CalendarRangeError(msg)
    return year


def _days(items: Any, year: int, where: str) -> frozenset[dt.date]:
    if not isinstance(items, list):
        msg = f"节假日文件格式有误 / holiday file invalid: {where}: not a list"
        raise CalendarRangeError(msg)
    days: set[dt.date] = set()
    for i, item in enumerate(items):
        first, last = (item.get("from"), item.get("to")) if isinstance(item, dict) else (item, item)
        if not (isinstance(first, dt.date) and isinstance(last, dt.date)) or first > last:
            msg = (
                f"节假日文件格式有误 / holiday file invalid: {where}[{i}]: {item!r} "
                "is not a date (YYYY-MM-DD) or a {from: date, to: date} range"
            )
            raise CalendarRangeError(msg)
        if first.year != year or last.year != year:
            msg = f"节假日文件有误 / holiday file invalid: {where}[{i}]: {item!r} is not in {year}"
            raise CalendarRangeError(msg)
        days.update(first + dt.timedelta(days=k) for k in range((last - first).days + 1))
    return frozenset(days)


def _city_year(year: int) -> CityYear | None:
    path = holiday_file()
    if not path.exists() and path == DEFAULT_HOLIDAY_FILE:
        return None
    return load_holiday_file(path).get(year)


def _library_knows(day: dt.date) -> bool:
    try:
        chinese_calendar.is_workday(day)
    except NotImplementedError:
        return False
    return True


def calendar_knows(day: dt.date) -> bool:
    """Return whether ``chinese-calendar`` or the city's holiday file has ``day``'s year.

    Examples
    --------
    >>> calendar_knows(dt.date(2026, 2, 17))
    True
    """
    return _library_knows(day) or _city_year(day.year) is not None


def is_provisional(start: dt.datetime | None, due: dt.datetime | None) -> bool:
    """Whether a clock from ``start`` to ``due`` counted a day of a year no calendar knows.

    ``due`` is the end of the due date (midnight after it, Beijing time), as stored.
    """
    if start is None or due is None:
        return False
    first = local_date(start)
    last = local_date(due - dt.timedelta(microseconds=1))
    return not all(calendar_knows(dt.date(year, 1, 1)) for year in range(first.year, last.year + 1))


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
    if _library_knows(day):
        return bool(chinese_calendar.is_workday(day))
    city = _city_year(day.year)
    if city is not None:
        return day in city.workdays or (day.weekday() < 5 and day not in city.holidays)
    if strict:
        msg = (
            f"{day.year} 年无工作日历 (chinese-calendar 与城市节假日文件 {holiday_file()} 均无) / "
            f"no official working-day calendar for {day.year}"
        )
        raise CalendarRangeError(msg)
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
    provisional = is_provisional(start, end)
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
