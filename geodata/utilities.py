"""Name the utility kinds and map the names and survey codes found in real files onto them.

The vocabulary is data: ``geodata/data/pipeline_vocabulary.csv`` holds one row per survey
code of CJJ 61 (城市地下管线探测技术规程), e.g. ``JS`` 给水, ``YS`` 雨水, ``WS`` 污水, with the
utility the product plans with, the sub-type it keeps, the Chinese and English names and the
other spellings seen in deliveries. A city extends it with its own CSV of the same columns
(:func:`load_vocabulary`).
"""

from __future__ import annotations

import csv
import functools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from geodata.errors import UnknownUtilityError

__all__ = [
    "OTHER",
    "UTILITIES",
    "VOCABULARY_PATH",
    "UtilityTerm",
    "Vocabulary",
    "classify_utility",
    "default_vocabulary",
    "load_vocabulary",
    "normalize_utility",
]

UTILITIES: tuple[str, ...] = ("water", "power", "heat", "gas", "drainage", "telecom")
# the kind of lines the product stores but does not plan with (路灯, 信号, 工业, 不明...)
OTHER = "other"
VOCABULARY_PATH = Path(__file__).parent / "data" / "pipeline_vocabulary.csv"
_COLUMNS = ("code", "utility", "subtype", "name_zh", "name_en", "aliases")
# trailing words that say "pipe/line/network" and carry no kind: 给水管线 -> 给水,
# 路灯电缆 -> 路灯, 热力管沟 -> 热力
_SUFFIXES = (
    "管线",
    "管道",
    "管网",
    "线路",
    "电缆",
    "光缆",
    "管沟",
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
# a survey code in front of the name: JS给水, JS_给水, js-给水, JS
_CODE_PREFIX = re.compile(r"^([a-z]{2})[_.:]*(.*)$")
# a survey code behind the name in brackets: 给水(JS)
_CODE_SUFFIX = re.compile(r"^(.+?)[_]*\(([a-z]{2})\)$")
# what may follow a code without naming a kind: JS_1, JS_LINE, DL-线
_NEUTRAL_TAIL = re.compile(r"^[\d_]*(line|lines|pipe|pipes|线|管|管线|管道)?[\d_]*$")


@dataclass(frozen=True, slots=True)
class UtilityTerm:
    """One entry of the vocabulary: a survey code and what it means.

    ``utility`` is one of :data:`UTILITIES` or :data:`OTHER`; ``subtype`` is the kind
    within it that the product keeps apart (``storm`` and ``sewer`` for drainage,
    ``reclaimed`` for water, ``street_lighting`` for other...) or ``None``.
    """

    code: str
    utility: str
    subtype: str | None
    name_zh: str
    name_en: str

    @property
    def planned(self) -> bool:
        """Whether the product plans trenches for this kind (not :data:`OTHER`)."""
        return self.utility != OTHER

    @property
    def label(self) -> str:
        """Code and Chinese name as surveyors write them, e.g. ``"YS雨水"``."""
        return f"{self.code}{self.name_zh}"


@dataclass(frozen=True)
class Vocabulary:
    """The survey codes and spellings, folded for lookup."""

    rows: tuple[tuple[UtilityTerm, tuple[str, ...]], ...]
    spellings: dict[str, UtilityTerm]
    codes: dict[str, UtilityTerm]

    def classify(self, name: object) -> UtilityTerm:
        """Return the term a name, code or ``code+name`` (``"JS给水"``) stands for.

        Raises
        ------
        UnknownUtilityError
            If the name is empty, unknown, or its code and name disagree (``"JS燃气"``).

        Examples
        --------
        >>> v = default_vocabulary()
        >>> v.classify("YS雨水").subtype
        'storm'
        >>> v.classify("JS_给水").utility
        'water'
        >>> v.classify("路灯").utility
        'other'
        """
        key = _fold(name)
        term = self._lookup(key) if key else None
        if term is None and key:
            term = self._with_code(key, name)
        if term is None:
            msg = (
                f"unknown utility kind {name!r}; expected one of {', '.join(UTILITIES)} "
                "(or 给水/供水, 电力/供电, 热力/供热, 燃气/供气, 排水/雨水/污水, 通信/电信, "
                "or a survey code such as JS, PS, YS, WS, RQ, RL, DL, TX, DX, LD, XH)"
            )
            raise UnknownUtilityError(msg)
        return term

    def extended(self, path: str | Path) -> Vocabulary:
        """Return this vocabulary with a city's rows added (same CSV columns).

        A city row with a code already known replaces that code's meaning and spellings.
        """
        added = _read_rows(Path(path))
        replaced = {term.code for term, _ in added}
        kept = [row for row in self.rows if row[0].code not in replaced]
        return _build([*kept, *added], source=Path(path).name)

    def _lookup(self, key: str) -> UtilityTerm | None:
        for candidate in _candidates(key):
            term = self.spellings.get(candidate)
            if term is not None:
                return term
        return None

    def _with_code(self, key: str, name: object) -> UtilityTerm | None:
        match = _CODE_PREFIX.match(key)
        if match is not None:
            code, rest = match.groups()
        else:
            match = _CODE_SUFFIX.match(key)
            if match is None:
                return None
            rest, code = match.groups()
        coded = self.codes.get(code)
        if coded is None:
            return None
        if _NEUTRAL_TAIL.match(rest):
            return coded
        named = self._lookup(rest.strip("_"))
        if named is None:
            return None
        if named == coded:
            return coded
        if named.utility != coded.utility:
            msg = (
                f"utility {name!r}: code {coded.code} ({coded.name_zh}) and name "
                f"{named.name_zh} disagree; fix the value or map the field"
            )
            raise UnknownUtilityError(msg)
        # 排水 with the code YS: the code is the more precise of the two
        return coded if coded.subtype is not None or named.subtype is None else named


def load_vocabulary(*extra: str | Path) -> Vocabulary:
    """Return the built-in vocabulary extended by each of ``extra`` (a city's CSV files).

    Raises
    ------
    ValueError
        If a CSV lacks a column, names a utility outside :data:`UTILITIES` and
        :data:`OTHER`, or gives one spelling two meanings.
    """
    vocabulary = default_vocabulary()
    for path in extra:
        vocabulary = vocabulary.extended(path)
    return vocabulary


@functools.cache
def default_vocabulary() -> Vocabulary:
    """Return the built-in vocabulary (read once)."""
    return _build(_read_rows(VOCABULARY_PATH), source=VOCABULARY_PATH.name)


def classify_utility(name: object, *, vocabulary: Vocabulary | None = None) -> UtilityTerm:
    """Return the vocabulary term for a name or survey code.

    Examples
    --------
    >>> classify_utility("WS污水").subtype
    'sewer'
    >>> classify_utility("DX").name_zh
    '电信'
    """
    return (vocabulary or default_vocabulary()).classify(name)


def normalize_utility(name: object) -> str:
    """Return the canonical utility kind for a name in Chinese or English, or a survey code.

    Parameters
    ----------
    name
        A utility name as found in a file: ``"给水"``, ``"供水管线"``, ``"Storm sewer"``,
        ``"JS给水"``...

    Returns
    -------
    str
        One of :data:`UTILITIES`, or :data:`OTHER` for kinds the product does not plan.

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
    >>> normalize_utility("RQ")
    'gas'
    """
    return classify_utility(name).utility


def _read_rows(path: Path) -> list[tuple[UtilityTerm, tuple[str, ...]]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in _COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            msg = f"{path.name}: the vocabulary lacks the column(s) {', '.join(missing)}"
            raise ValueError(msg)
        rows = []
        for line, row in enumerate(reader, start=2):
            utility = (row["utility"] or "").strip()
            if utility not in (*UTILITIES, OTHER):
                msg = (
                    f"{path.name} line {line}: utility {utility!r} is none of "
                    f"{', '.join(UTILITIES)}, {OTHER}"
                )
                raise ValueError(msg)
            code = (row["code"] or "").strip().upper()
            if not re.fullmatch(r"[A-Z]{2}", code):
                msg = f"{path.name} line {line}: code {code!r} must be two letters, e.g. JS"
                raise ValueError(msg)
            term = UtilityTerm(
                code=code,
                utility=utility,
                subtype=(row["subtype"] or "").strip() or None,
                name_zh=(row["name_zh"] or "").strip(),
                name_en=(row["name_en"] or "").strip(),
            )
            aliases = tuple(a.strip() for a in (row["aliases"] or "").split("|") if a.strip())
            rows.append((term, aliases))
    return rows


def _build(rows: list[tuple[UtilityTerm, tuple[str, ...]]], *, source: str) -> Vocabulary:
    spellings: dict[str, UtilityTerm] = {}
    codes: dict[str, UtilityTerm] = {}
    for term, aliases in rows:
        codes[term.code.lower()] = term
        names = (term.code, term.name_zh, term.name_en, term.label, *aliases)
        for spelling in names:
            key = _fold(spelling)
            if not key:
                continue
            known = spellings.get(key)
            if known is not None and known != term:
                msg = (
                    f"{source}: {spelling!r} means both {known.label} and {term.label}; "
                    "give each spelling one meaning"
                )
                raise ValueError(msg)
            spellings[key] = term
    return Vocabulary(rows=tuple(rows), spellings=spellings, codes=codes)


def _fold(name: object) -> str:
    if name is None or not isinstance(name, str):
        return ""
    text = unicodedata.normalize("NFKC", name).strip().lower()
    return re.sub(r"[\s\-]+", "_", text)


def _candidates(key: str) -> list[str]:
    found = [key]
    for suffix in _SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            found.append(key.removesuffix(suffix).rstrip("_"))
    return found
