"""Load the standards tables (GB 50289, GB 50268, road regulations) as checked, cited data.

Every number the planner uses comes from ``routing/standards/`` and keeps its clause and
verification level; no clearance, cover or width figure is written in code. The tables are
read and schema-checked once (:func:`load_standards`, cached); a bad table raises
:class:`~routing.errors.StandardsError` naming the file, row and column.

Lookups are symmetric where the tables are (clearances), match ``*`` subtypes, and return
``None`` when no row applies: the caller must treat ``None`` as UNKNOWN and fail closed.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import logging
import math
from collections.abc import Collection
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import yaml

from routing.errors import StandardsError

__all__ = [
    "LANES",
    "STANDARDS_DIR",
    "TABLE_SETS",
    "VERIFICATION_LEVELS",
    "ExcavationRules",
    "FrostRule",
    "Rule",
    "RuleValue",
    "Standards",
    "excavation_rules",
    "frost_rules",
    "gas_pressure_class",
    "horizontal_clearance",
    "layout_order",
    "load_standards",
    "min_cover",
    "protection_end",
    "tree_clearance",
    "trench_geometry",
    "vertical_clearance",
]

logger = logging.getLogger(__name__)

STANDARDS_DIR = Path(__file__).parent / "standards"

# ordered from strongest to weakest evidence (README "Verification levels"); "n/a" marks hints
VERIFICATION_LEVELS = ("verified", "corroborated", "same_as_1998", "secondary", "unverified", "n/a")

# lane words used by min_cover_depth.csv, with the short aliases callers may pass
LANES = {
    "motor": "motor_lane",
    "motor_lane": "motor_lane",
    "non_motor": "non_motor_lane_or_sidewalk",
    "sidewalk": "non_motor_lane_or_sidewalk",
    "non_motor_lane_or_sidewalk": "non_motor_lane_or_sidewalk",
    "courtyard_no_vehicles": "courtyard_no_vehicles",
    "paddy_field": "paddy_field",
}

_CLEARANCE_COLUMNS = (
    "utility_a",
    "subtype_a",
    "utility_b",
    "subtype_b",
    "min_m",
    "condition",
    "source_clause",
    "verification",
    "note",
)
_COVER_COLUMNS = (
    "utility",
    "subtype",
    "location",
    "min_cover_m",
    "condition",
    "source_clause",
    "verification",
    "note",
)
_TREE_COLUMNS = (
    "utility",
    "subtype",
    "to_tree_centre_m",
    "to_shrub_centre_m",
    "basis",
    "source_clause",
    "verification",
    "note",
)
# tree_clearances.csv (CJJ 75) names some utilities differently from GB 50289's vocabulary
_TREE_UTILITY_ALIASES = {"sewer_storm": ("sewer", "storm")}
_TREE_SUBTYPE_ALIASES = {"power": ("cable",)}
_YAML_FILES = (
    "layout_rules.yaml",
    "trench_geometry.yaml",
    "road_excavation.yaml",
    "utility_tunnel.yaml",
    "utility_rules.yaml",
)
# which clearance tables a lookup reads: GB 50289 alone, each utility's own standard alone
# (GB 50217, GB 50028 §6.4, CJJ 63, CJJ/T 81 ...), or both (the stricter value, both cited)
TABLE_SETS = ("gb50289", "own", "both")


@dataclass(frozen=True, slots=True)
class RuleValue:
    """One number from a standards table with where it comes from.

    Attributes
    ----------
    value
        The number, in the unit its name in the table says (metres unless stated).
    clause
        The source clause, e.g. ``"GB 50289-2016 表4.1.9"``.
    verification
        One of :data:`VERIFICATION_LEVELS`; ``"unverified"`` must be shown as such.
    condition, note
        Free text from the table (measurement basis, caveats).
    source
        ``file:row`` (CSV, 1-based data row counting the header as row 1) or ``file:key.path``.
    """

    value: float
    clause: str
    verification: str
    condition: str = ""
    note: str = ""
    source: str = ""

    @property
    def unverified(self) -> bool:
        """True when the value was not checked against any source (README levels)."""
        return self.verification == "unverified"

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return {
            "value": self.value,
            "clause": self.clause,
            "verification": self.verification,
            "condition": self.condition,
            "note": self.note,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class Rule:
    """A textual rule (layout, placement) with its clause and verification level."""

    text: str
    clause: str
    verification: str
    source: str = ""


@dataclass(frozen=True, slots=True)
class FrostRule:
    """Cover of a line set by the soil frost depth in cold regions (GB 50289-2016 §4.1.1).

    ``margin`` is how far the crown must lie below the frost line (``None``: at the frost
    line, i.e. "below the frost line" with no stated margin).
    """

    utility: str
    subtype: str
    governing: Rule
    margin: RuleValue | None


@dataclass(frozen=True, slots=True)
class ExcavationRules:
    """Road-excavation numbers from 城市道路管理条例 and 建办质〔2018〕31号."""

    moratorium_new_road_years: RuleValue
    moratorium_overhauled_road_years: RuleValue
    moratorium_exception: Rule
    emergency_retroactive_approval_hours: RuleValue
    bridge_gas_max_mpa: RuleValue
    bridge_power_max_kv: RuleValue
    special_scheme_depth_m: RuleValue
    expert_review_depth_m: RuleValue
    max_fine_cny: RuleValue


@dataclass(frozen=True, slots=True)
class _ClearanceRow:
    utility_a: str
    subtype_a: str
    utility_b: str
    subtype_b: str
    rule: RuleValue


@dataclass(frozen=True, slots=True, eq=False)
class Standards:
    """All tables, parsed and checked. Obtain it with :func:`load_standards`."""

    horizontal: tuple[_ClearanceRow, ...]
    vertical: tuple[_ClearanceRow, ...]
    cover: tuple[tuple[str, str, str, RuleValue], ...]
    trees: tuple[tuple[str, str, str, RuleValue | None, RuleValue | None], ...]
    yaml: Mapping[str, Any] = field(repr=False)
    directory: Path = STANDARDS_DIR
    # rows from each utility's own standard (utility_*_clearances.csv)
    own_horizontal: tuple[_ClearanceRow, ...] = ()
    own_vertical: tuple[_ClearanceRow, ...] = ()
    # rows grouped by their (utility_a, utility_b), for lookups in both orders
    by_pair: Mapping[tuple[str, str, str], tuple[_ClearanceRow, ...]] = field(
        default_factory=dict, repr=False
    )


# -- public lookups -----------------------------------------------------------------------------


@functools.cache
def load_standards(directory: Path | None = None) -> Standards:
    """Read and check every standards table once.

    Parameters
    ----------
    directory
        Folder holding the tables; defaults to :data:`STANDARDS_DIR`.

    Returns
    -------
    Standards

    Raises
    ------
    StandardsError
        A file is missing or a cell is malformed; the message names file, row and column.
    """
    folder = Path(directory) if directory is not None else STANDARDS_DIR
    horizontal = _read_clearances(folder / "horizontal_clearances.csv")
    vertical = _read_clearances(folder / "vertical_clearances.csv")
    cover = _read_cover(folder / "min_cover_depth.csv")
    trees = _read_trees(folder / "tree_clearances.csv")
    own_h = _read_clearances(folder / "utility_horizontal_clearances.csv")
    own_v = _read_clearances(folder / "utility_vertical_clearances.csv")
    docs = {name: _read_yaml(folder / name) for name in _YAML_FILES}
    by_pair: dict[tuple[str, str, str], list[_ClearanceRow]] = {}
    for table, rows in (("h", horizontal), ("v", vertical), ("oh", own_h), ("ov", own_v)):
        for row in rows:
            by_pair.setdefault((table, row.utility_a, row.utility_b), []).append(row)
    standards = Standards(
        horizontal,
        vertical,
        cover,
        trees,
        docs,
        folder,
        own_h,
        own_v,
        {k: tuple(v) for k, v in by_pair.items()},
    )
    _check_yaml(standards)
    logger.info(
        "standards loaded from %s: %d horizontal, %d vertical, %d cover, %d tree rows",
        folder,
        len(horizontal),
        len(vertical),
        len(cover),
        len(trees),
    )
    return standards


def horizontal_clearance(
    a: str,
    sub_a: str | Collection[str] | None,
    b: str,
    sub_b: str | Collection[str] | None,
    *,
    standards: Standards | None = None,
    tables: str = "both",
) -> RuleValue | None:
    """Minimum horizontal clearance (edge to edge, m) between two lines or a line and an object.

    Parameters
    ----------
    a, b
        Utility or object keys (``water``, ``gas``, ``tree``, ``building`` ... see README).
    sub_a, sub_b
        The subtype, or a collection of tags that all describe the line (a gas main may be
        ``{"medium_a", "dn_le_300mm"}``: pressure class for most pairs, diameter for gas-gas).
        ``None`` matches only ``*`` rows.
    tables
        ``both`` (default): GB 50289 表4.1.9 and the utilities' own standards
        (``utility_horizontal_clearances.csv``: GB 50217, GB 50028 §6.4, CJJ 63, CJJ/T 81,
        construction minima), the stricter value with both clauses cited; ``gb50289`` or
        ``own`` for one of them.

    Returns
    -------
    RuleValue or None
        The most specific matching row of each table, looked up in both orders; among
        equally specific rows the largest value. ``None`` when no table holds a rule: treat
        as UNKNOWN.

    Examples
    --------
    >>> horizontal_clearance("water", "d_gt_200mm", "sewer_storm", "*").value
    1.5
    >>> horizontal_clearance("sewer_storm", None, "water", "d_gt_200mm").clause
    'GB 50289-2016 表4.1.9'
    >>> horizontal_clearance("power", "conduit", "power", "conduit", tables="gb50289") is None
    True
    >>> horizontal_clearance("power", "conduit", "power", "conduit").clause
    'GB 50217-2018 表5.3.5'
    """
    return _lookup(standards or load_standards(), a, sub_a, b, sub_b, table="h", tables=tables)


def vertical_clearance(
    a: str,
    sub_a: str | Collection[str] | None,
    b: str,
    sub_b: str | Collection[str] | None,
    *,
    standards: Standards | None = None,
    tables: str = "both",
) -> RuleValue | None:
    """Minimum vertical clearance (m) where two lines cross (GB 50289-2016 表4.1.14).

    Same matching and ``tables`` as :func:`horizontal_clearance` (the utilities' own rows
    are ``utility_vertical_clearances.csv``: CJJ 63 for PE gas over or under a heat pipe
    uses the tags ``pe_above`` / ``pe_below``). Power and telecom use the subtypes
    ``direct_buried`` or ``protected`` here.

    Examples
    --------
    >>> vertical_clearance("gas", "medium_a", "water", "*").value
    0.15
    """
    return _lookup(standards or load_standards(), a, sub_a, b, sub_b, table="v", tables=tables)


def min_cover(
    utility: str,
    subtype: str | Collection[str] | None,
    lane: str,
    *,
    standards: Standards | None = None,
) -> RuleValue | None:
    """Minimum cover (top of the line's outer wall to ground, m) under a lane type.

    Parameters
    ----------
    utility, subtype
        As in :func:`horizontal_clearance`; subtype may be a collection of tags.
    lane
        ``motor`` / ``motor_lane`` or ``non_motor`` / ``sidewalk`` /
        ``non_motor_lane_or_sidewalk`` (also ``courtyard_no_vehicles``, ``paddy_field``).

    Returns
    -------
    RuleValue or None
        The most specific row (a ``pe`` water row beats ``*``); ``None`` if no row applies.

    Raises
    ------
    ValueError
        Unknown lane word.

    Examples
    --------
    >>> min_cover("gas", "medium_a", "motor").value
    0.9
    >>> min_cover("water", {"pe", "d_gt_200mm"}, "motor").value
    1.0
    """
    location = _lane(lane)
    tags = _tags(subtype)
    best: tuple[int, RuleValue] | None = None
    for row_utility, row_subtype, row_location, rule in (standards or load_standards()).cover:
        if row_utility != utility or row_location != location:
            continue
        if row_subtype != "*" and row_subtype not in tags:
            continue
        score = 0 if row_subtype == "*" else 1
        if best is None or score > best[0] or (score == best[0] and rule.value > best[1].value):
            best = (score, rule)
    return None if best is None else best[1]


def tree_clearance(
    utility: str,
    subtype: str | Collection[str] | None = None,
    *,
    plant: str = "tree",
    basis: str = "tree_centre",
    standards: Standards | None = None,
) -> RuleValue | None:
    """Minimum distance from a line to a tree (or shrub) centre per CJJ 75-97 表6.2.1.

    ``basis="root_collar_special_case"`` gives 表6.2.2 (only where 表6.2.1 cannot be met).
    ``sewer_storm`` looks up both the sewer and storm rows; any power subtype is a
    ``cable``. GB 50289 表4.1.9 also has line-tree rows: ask :func:`horizontal_clearance`
    with ``"tree"`` for those. Returns ``None`` where the table has no value (e.g. water to
    shrub under 表6.2.1).

    Examples
    --------
    >>> tree_clearance("gas", "medium_a").value
    1.2
    """
    if plant not in ("tree", "shrub"):
        msg = f"plant must be 'tree' or 'shrub', got {plant!r}"
        raise ValueError(msg)
    utilities = _TREE_UTILITY_ALIASES.get(utility, (utility,))
    tags = set(_tags(subtype)) | set(_TREE_SUBTYPE_ALIASES.get(utility, ()))
    best: tuple[int, RuleValue] | None = None
    for row_utility, row_subtype, row_basis, to_tree, to_shrub in (
        standards or load_standards()
    ).trees:
        if row_utility not in utilities or row_basis != basis:
            continue
        if row_subtype != "*" and row_subtype not in tags:
            continue
        rule = to_tree if plant == "tree" else to_shrub
        if rule is None:
            continue
        score = 0 if row_subtype == "*" else 1
        if best is None or score > best[0] or (score == best[0] and rule.value > best[1].value):
            best = (score, rule)
    return None if best is None else best[1]


def layout_order(*, standards: Standards | None = None) -> tuple[tuple[str, ...], Rule]:
    """Order of parallel lines from the road red line to the centreline (GB 50289-2016 §4.1.3).

    Returns the order keys (``power``, ``telecom``, ``water_distribution`` ...) and the rule.
    """
    doc = (standards or load_standards()).yaml["layout_rules.yaml"]
    block = doc["order_from_red_line_to_centreline"]
    rule = Rule(
        text="order of parallel lines from the red line to the centreline",
        clause=str(block["source_clause"]),
        verification=str(block["verification"]),
        source="layout_rules.yaml:order_from_red_line_to_centreline",
    )
    return tuple(str(k) for k in block["order"]), rule


def frost_rules(*, standards: Standards | None = None) -> tuple[FrostRule, ...]:
    """Which lines take their cover from the frost depth, and the margin below the frost line.

    Read from ``layout_rules.yaml`` → ``cover_depth_rules`` (entries with ``frost_governed``
    name the lines; entries with ``applies_to`` and ``value_m`` give the margin).
    """
    doc = (standards or load_standards()).yaml["layout_rules.yaml"]
    rules = doc["cover_depth_rules"]
    margins: dict[str, RuleValue] = {}
    for i, entry in enumerate(rules):
        if "value_m" in entry and "applies_to" in entry:
            for utility in entry["applies_to"]:
                margins[str(utility)] = RuleValue(
                    value=float(entry["value_m"]),
                    clause=str(entry.get("source_clause", "")),
                    verification=str(entry["verification"]),
                    note=str(entry["rule"]),
                    source=f"layout_rules.yaml:cover_depth_rules[{i}]",
                )
    out: list[FrostRule] = []
    for i, entry in enumerate(rules):
        for item in entry.get("frost_governed", ()):
            utility, _, subtype = str(item).partition(":")
            governing = Rule(
                text=str(entry["rule"]),
                clause=str(entry.get("source_clause", "")),
                verification=str(entry["verification"]),
                source=f"layout_rules.yaml:cover_depth_rules[{i}]",
            )
            out.append(FrostRule(utility, subtype or "*", governing, margins.get(utility)))
    return tuple(out)


def gas_pressure_class(pressure_mpa: float, *, standards: Standards | None = None) -> str:
    """Pressure class of a gas line (GB 50028-2006 §6.1.6, ``utility_rules.yaml``).

    Raises
    ------
    ValueError
        Negative, not finite, or above the highest class (4.0 MPa).

    Examples
    --------
    >>> gas_pressure_class(0.3), gas_pressure_class(2.5)
    ('medium_a', 'high_b')
    """
    block = (standards or load_standards()).yaml["utility_rules.yaml"]["gas_pressure_classes"]
    if not (math.isfinite(pressure_mpa) and pressure_mpa >= 0):
        msg = f"gas pressure must be a finite number >= 0 MPa, got {pressure_mpa!r}"
        raise ValueError(msg)
    for entry in block["classes"]:
        if pressure_mpa <= float(entry["max_mpa"]) + 1e-12:
            return str(entry["subtype"])
    msg = (
        f"gas pressure {pressure_mpa:g} MPa is above {block['classes'][-1]['max_mpa']} MPa, "
        f"the top class of {block['source_clause']}"
    )
    raise ValueError(msg)


def trench_geometry(*, standards: Standards | None = None) -> Mapping[str, Any]:
    """The parsed ``trench_geometry.yaml`` (GB 50268-2008 §4.3): width formula, b1, slopes."""
    return (standards or load_standards()).yaml["trench_geometry.yaml"]  # type: ignore[no-any-return]


def excavation_rules(*, standards: Standards | None = None) -> ExcavationRules:
    """Road-excavation rules: article 33 moratorium years, emergency approval, depth thresholds.

    Examples
    --------
    >>> excavation_rules().moratorium_new_road_years.value
    5.0
    """
    return _excavation_rules(standards or load_standards())


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


# -- loading and checking -----------------------------------------------------------------------


@functools.cache
def _excavation_rules(standards: Standards) -> ExcavationRules:
    doc = standards.yaml["road_excavation.yaml"]
    fname = "road_excavation.yaml"
    arts = doc["city_road_regulation"]["articles"]
    title = "城市道路管理条例"

    def art_value(article: str, path: tuple[str, ...]) -> RuleValue:
        node: Any = arts[article]
        for key in path:
            node = node[key]
        return RuleValue(
            value=float(node),
            clause=f"{title} 第{article}条",
            verification=str(arts[article]["verification"]),
            note=str(arts[article]["summary"]),
            source=f"{fname}:city_road_regulation.articles.{article}.{'.'.join(path)}",
        )

    safety = doc["excavation_safety_thresholds"]

    def safety_value(key: str) -> RuleValue:
        return RuleValue(
            value=float(safety[key]),
            clause=str(safety["source"]),
            verification=str(safety["verification"]),
            source=f"{fname}:excavation_safety_thresholds.{key}",
        )

    moratorium = arts["33"]["moratorium"]
    return ExcavationRules(
        moratorium_new_road_years=art_value(
            "33", ("moratorium", "new_expanded_or_rebuilt_road_years")
        ),
        moratorium_overhauled_road_years=art_value("33", ("moratorium", "overhauled_road_years")),
        moratorium_exception=Rule(
            text=str(moratorium["exception"]),
            clause=f"{title} 第33条",
            verification="unverified",  # README: the exception wording was cut off in the source
            source=f"{fname}:city_road_regulation.articles.33.moratorium.exception",
        ),
        emergency_retroactive_approval_hours=art_value(
            "34", ("values", "retroactive_approval_hours")
        ),
        bridge_gas_max_mpa=art_value("27", ("values", "bridge_gas_max_mpa")),
        bridge_power_max_kv=art_value("27", ("values", "bridge_power_max_kv")),
        special_scheme_depth_m=safety_value("special_scheme_depth_m"),
        expert_review_depth_m=safety_value("expert_review_depth_m"),
        max_fine_cny=art_value("42", ("values", "max_fine_cny")),
    )


def _read_csv(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    if not path.is_file():
        msg = f"standards table missing: {path}"
        raise StandardsError(msg)
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        header = tuple(reader.fieldnames or ())
        if header != columns:
            msg = f"{path.name}: header {list(header)} does not match expected {list(columns)}"
            raise StandardsError(msg)
        rows = []
        for row_no, row in enumerate(reader, start=2):
            if None in row or any(v is None for v in row.values()):
                msg = f"{path.name} row {row_no}: wrong number of cells"
                raise StandardsError(msg)
            rows.append((row_no, {k: v.strip() for k, v in row.items()}))
    if not rows:
        msg = f"{path.name}: no data rows"
        raise StandardsError(msg)
    return rows


def _required(path: Path, row_no: int, row: Mapping[str, str], column: str) -> str:
    value = row[column]
    if not value:
        msg = f"{path.name} row {row_no} column {column!r}: empty"
        raise StandardsError(msg)
    return value


def _number(path: Path, row_no: int, row: Mapping[str, str], column: str) -> float:
    text = _required(path, row_no, row, column)
    try:
        value = float(text)
    except ValueError:
        msg = f"{path.name} row {row_no} column {column!r}: {text!r} is not a number"
        raise StandardsError(msg) from None
    if not math.isfinite(value) or value < 0:
        msg = f"{path.name} row {row_no} column {column!r}: {text!r} must be a finite number >= 0"
        raise StandardsError(msg)
    return value


def _verification(path: Path, row_no: int, row: Mapping[str, str]) -> str:
    level = _required(path, row_no, row, "verification")
    if level not in VERIFICATION_LEVELS:
        msg = (
            f"{path.name} row {row_no} column 'verification': {level!r} is not one of "
            f"{list(VERIFICATION_LEVELS)}"
        )
        raise StandardsError(msg)
    return level


def _read_clearances(path: Path) -> tuple[_ClearanceRow, ...]:
    out: list[_ClearanceRow] = []
    seen: dict[frozenset[tuple[str, str]], int] = {}
    for row_no, row in _read_csv(path, _CLEARANCE_COLUMNS):
        keys = [
            _required(path, row_no, row, c)
            for c in ("utility_a", "subtype_a", "utility_b", "subtype_b")
        ]
        pair = frozenset({(keys[0], keys[1]), (keys[2], keys[3])})
        if pair in seen:
            msg = (
                f"{path.name} row {row_no}: pair {keys} already given in row {seen[pair]} "
                "(pairs are symmetric)"
            )
            raise StandardsError(msg)
        seen[pair] = row_no
        rule = RuleValue(
            value=_number(path, row_no, row, "min_m"),
            clause=_required(path, row_no, row, "source_clause"),
            verification=_verification(path, row_no, row),
            condition=row["condition"],
            note=row["note"],
            source=f"{path.name}:{row_no}",
        )
        out.append(_ClearanceRow(keys[0], keys[1], keys[2], keys[3], rule))
    return tuple(out)


def _read_cover(path: Path) -> tuple[tuple[str, str, str, RuleValue], ...]:
    out = []
    for row_no, row in _read_csv(path, _COVER_COLUMNS):
        location = _required(path, row_no, row, "location")
        if location not in LANES.values():
            valid = sorted(set(LANES.values()))
            msg = f"{path.name} row {row_no} column 'location': {location!r} is not one of {valid}"
            raise StandardsError(msg)
        rule = RuleValue(
            value=_number(path, row_no, row, "min_cover_m"),
            clause=_required(path, row_no, row, "source_clause"),
            verification=_verification(path, row_no, row),
            condition=row["condition"],
            note=row["note"],
            source=f"{path.name}:{row_no}",
        )
        out.append(
            (
                _required(path, row_no, row, "utility"),
                _required(path, row_no, row, "subtype"),
                location,
                rule,
            )
        )
    return tuple(out)


def _read_trees(
    path: Path,
) -> tuple[tuple[str, str, str, RuleValue | None, RuleValue | None], ...]:
    out = []
    for row_no, row in _read_csv(path, _TREE_COLUMNS):
        clause = _required(path, row_no, row, "source_clause")
        level = _verification(path, row_no, row)
        values: list[RuleValue | None] = []
        for column in ("to_tree_centre_m", "to_shrub_centre_m"):
            if not row[column]:
                values.append(None)  # "—" in the table: no value
                continue
            values.append(
                RuleValue(
                    value=_number(path, row_no, row, column),
                    clause=clause,
                    verification=level,
                    condition=column.removesuffix("_m").replace("_", " "),
                    note=row["note"],
                    source=f"{path.name}:{row_no}",
                )
            )
        out.append(
            (
                _required(path, row_no, row, "utility"),
                _required(path, row_no, row, "subtype"),
                _required(path, row_no, row, "basis"),
                values[0],
                values[1],
            )
        )
    return tuple(out)


def _read_yaml(path: Path) -> Mapping[str, Any]:
    if not path.is_file():
        msg = f"standards table missing: {path}"
        raise StandardsError(msg)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        msg = f"{path.name}: not valid YAML: {exc}"
        raise StandardsError(msg) from None
    if not isinstance(doc, dict):
        msg = f"{path.name}: top level must be a mapping"
        raise StandardsError(msg)
    return doc


def _check_yaml(standards: Standards) -> None:
    """Check the YAML keys the code reads, so a bad edit fails at load, not mid-plan."""
    docs = standards.yaml
    required: dict[str, tuple[tuple[str, ...], ...]] = {
        "layout_rules.yaml": (
            ("order_from_red_line_to_centreline", "order"),
            ("order_from_red_line_to_centreline", "source_clause"),
            ("order_from_red_line_to_centreline", "verification"),
            ("cover_depth_rules",),
            ("clearance_reduction", "source_clause"),
            ("clearance_reduction", "verification"),
            ("placement",),
        ),
        "trench_geometry.yaml": (
            ("trench_bottom_width", "source_clause"),
            ("trench_bottom_width", "b2_range_mm"),
            ("trench_bottom_width", "b1_table_mm", "columns"),
            ("trench_bottom_width", "b1_table_mm", "rows"),
            ("trench_bottom_width", "b1_table_mm", "verification"),
            ("side_slopes_depth_le_5m", "columns"),
            ("side_slopes_depth_le_5m", "rows"),
            ("vertical_walls_without_support_max_depth_m",),
            ("spoil_heap", "min_distance_from_edge_m"),
            ("direct_buried_cable_bedding", "soft_soil_or_sand_above_and_below_mm"),
        ),
        "road_excavation.yaml": (
            (
                "city_road_regulation",
                "articles",
                "33",
                "moratorium",
                "new_expanded_or_rebuilt_road_years",
            ),
            ("city_road_regulation", "articles", "33", "moratorium", "overhauled_road_years"),
            ("excavation_safety_thresholds", "special_scheme_depth_m"),
            ("excavation_safety_thresholds", "expert_review_depth_m"),
        ),
        "utility_tunnel.yaml": (("allowed_utilities",),),
        "utility_rules.yaml": (
            ("gas_pressure_classes", "classes"),
            ("gas_pressure_classes", "source_clause"),
            ("crossing_protection", "source_clause"),
            ("heat_pipes", "pipes"),
        ),
    }
    for name, paths in required.items():
        for path in paths:
            node: Any = docs[name]
            for depth, key in enumerate(path):
                if not isinstance(node, Mapping) or key not in node:
                    msg = f"{name}: missing key {'.'.join(path[: depth + 1])}"
                    raise StandardsError(msg)
                node = node[key]
    for i, entry in enumerate(docs["layout_rules.yaml"]["cover_depth_rules"]):
        where = f"layout_rules.yaml: cover_depth_rules[{i}]"
        level = entry.get("verification") if isinstance(entry, Mapping) else None
        if level not in VERIFICATION_LEVELS:
            msg = f"{where}: verification {level!r} is not one of {list(VERIFICATION_LEVELS)}"
            raise StandardsError(msg)
        if "value_m" in entry and not isinstance(entry["value_m"], int | float):
            msg = f"{where}: value_m {entry['value_m']!r} is not a number"
            raise StandardsError(msg)
    b1 = docs["trench_geometry.yaml"]["trench_bottom_width"]["b1_table_mm"]
    for i, row in enumerate(b1["rows"]):
        if len(row.get("values", ())) != len(b1["columns"]):
            msg = (
                f"trench_geometry.yaml: trench_bottom_width.b1_table_mm.rows[{i}] needs "
                f"{len(b1['columns'])} values"
            )
            raise StandardsError(msg)
    # the excavation rules are read eagerly so a bad article fails at load
    try:
        _excavation_rules(standards)
    except (KeyError, TypeError, ValueError) as exc:
        msg = f"road_excavation.yaml: cannot read excavation rules: {exc!r}"
        raise StandardsError(msg) from None


def _tags(subtype: str | Iterable[str] | None) -> frozenset[str]:
    if subtype is None:
        return frozenset()
    if isinstance(subtype, str):
        return frozenset({subtype})
    return frozenset(subtype)


def _lane(lane: str) -> str:
    try:
        return LANES[lane]
    except KeyError:
        msg = f"unknown lane {lane!r}; valid: {sorted(LANES)}"
        raise ValueError(msg) from None


def _lookup(
    standards: Standards,
    a: str,
    sub_a: str | Collection[str] | None,
    b: str,
    sub_b: str | Collection[str] | None,
    *,
    table: str,
    tables: str,
) -> RuleValue | None:
    """GB 50289's rule and the utility's own rule; with both, the stricter, both cited."""
    if tables not in TABLE_SETS:
        msg = f"tables must be one of {TABLE_SETS}, got {tables!r}"
        raise ValueError(msg)
    gb = _match_pair(standards, a, sub_a, b, sub_b, table=table) if tables != "own" else None
    own = (
        _match_pair(standards, a, sub_a, b, sub_b, table=f"o{table}")
        if tables != "gb50289"
        else None
    )
    if gb is None or own is None:
        return gb or own
    levels = VERIFICATION_LEVELS.index
    if own.value > gb.value or (
        own.value == gb.value and levels(own.verification) < levels(gb.verification)
    ):
        governing, other = own, gb
    else:
        governing, other = gb, own
    return RuleValue(
        value=governing.value,
        clause=f"{governing.clause}; {other.clause}",
        verification=governing.verification,
        condition=governing.condition,
        note=(
            f"stricter of {governing.clause} = {governing.value:g} and {other.clause} = "
            f"{other.value:g} ({other.source}); {governing.note}"
        ).rstrip("; "),
        source=governing.source,
    )


def _match_pair(
    standards: Standards,
    a: str,
    sub_a: str | Collection[str] | None,
    b: str,
    sub_b: str | Collection[str] | None,
    *,
    table: str,
) -> RuleValue | None:
    tags_a = _tags(sub_a)
    tags_b = _tags(sub_b)
    best: tuple[int, RuleValue] | None = None
    for (ua, ta), (ub, tb) in (((a, tags_a), (b, tags_b)), ((b, tags_b), (a, tags_a))):
        for row in standards.by_pair.get((table, ua, ub), ()):
            if row.subtype_a != "*" and row.subtype_a not in ta:
                continue
            if row.subtype_b != "*" and row.subtype_b not in tb:
                continue
            score = (row.subtype_a != "*") + (row.subtype_b != "*")
            better = best is None or score > best[0]
            if better or (best is not None and score == best[0] and row.rule.value > best[1].value):
                best = (score, row.rule)
    return None if best is None else best[1]


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a non-leap target year
        return day.replace(year=day.year + years, day=28)
