"""Hold the one block of map styles shared by the web review maps and the printed sheets."""

from __future__ import annotations

__all__ = [
    "ATTRIBUTION_OSM",
    "CONTEXT_STYLES",
    "LAYER_LABELS",
    "LINE_WIDTHS_PX",
    "PERMIT_LABELS",
    "PERMIT_TYPES",
    "PRINT_WIDTH_MM_PER_PX",
    "SUBTYPE_LABELS",
    "TREE_ACTION_STYLE",
    "TREE_RADIUS_PX",
    "TRENCH_RAMP",
    "TRENCH_WIDTH_STEP_PX",
    "UTILITIES",
    "UTILITY_COLOURS",
    "UTILITY_LABELS",
    "WARNING_COLOUR",
    "label",
    "line_label",
    "permit_label",
    "trench_colour",
    "trench_width_px",
    "utility_colour",
]

# one colour per utility, the same on the web map and on paper. Hues follow the usual
# Chinese pipeline-survey convention (CJJ 61): water blue, drainage brown, gas yellow,
# heat orange, power red, telecom green; darkened where pure hues vanish on white paper.
UTILITIES = ("water", "power", "heat", "gas", "drainage", "telecom")
UTILITY_COLOURS = {
    "water": "#1f5fbf",
    "power": "#d62728",
    "heat": "#e67300",
    "gas": "#c9a100",
    "drainage": "#8c5a2b",
    "telecom": "#2a9d3a",
}
UTILITY_LABELS: dict[str, tuple[str, str]] = {
    "water": ("给水", "Water"),
    "power": ("电力", "Power"),
    "heat": ("热力", "Heat"),
    "gas": ("燃气", "Gas"),
    "drainage": ("排水", "Drainage"),
    "telecom": ("通信", "Telecom"),
}

# the shared trench, coloured by how many utilities share it: index = utility count.
# a purple ramp, so it never reads as one of the utility hues above.
TRENCH_RAMP = (
    "#9e9e9e",  # 0: should not happen, shown grey
    "#9e9e9e",  # 1 utility: a trench nobody shares
    "#9e9ac8",
    "#807dba",
    "#6a51a3",
    "#54278f",
    "#3f007d",  # 6 utilities
)

# widths in CSS pixels on the web; print widths are these times PRINT_WIDTH_MM_PER_PX
LINE_WIDTHS_PX: dict[str, float] = {
    "road": 2.0,
    "existing": 1.5,
    "proposed": 2.5,
    "trench_base": 5.0,  # one utility; each further sharer adds TRENCH_WIDTH_STEP_PX
    "group": 10.0,
    "protected": 1.5,
}
TRENCH_WIDTH_STEP_PX = 1.5
PRINT_WIDTH_MM_PER_PX = 0.18

# background and context layers: (stroke colour, fill colour, dash pattern or None)
CONTEXT_STYLES: dict[str, dict[str, str | None]] = {
    "road": {"color": "#b0b0b0", "fill": None, "dash": None},
    "existing": {"color": None, "fill": None, "dash": "4 3"},  # coloured by utility, dashed
    "group": {"color": "#ffd400", "fill": None, "dash": None},
    "protected": {"color": "#c2185b", "fill": "#f8bbd0", "dash": "6 3"},
    "tree": {"color": "#1b5e20", "fill": "#66bb6a", "dash": None},
    "tree_affected": {"color": "#b71c1c", "fill": "#ef9a9a", "dash": None},  # to fell
    "tree_protect": {"color": "#e65100", "fill": "#ffcc80", "dash": None},
    "pole": {"color": "#37474f", "fill": "#37474f", "dash": None},
}
WARNING_COLOUR = "#ff1744"
# tree findings (routing.quantities) -> style key
TREE_ACTION_STYLE = {"fell": "tree_affected", "protect": "tree_protect"}
TREE_RADIUS_PX = 4.0

# the four approvals a shared trench needs (集联办理 parallel permits)
PERMIT_TYPES = ("road_occupation", "tree_felling", "pipeline_attachment", "road_excavation")
PERMIT_LABELS: dict[str, tuple[str, str]] = {
    "road_occupation": ("占用城市道路", "Occupation of a city road"),
    "tree_felling": ("砍伐城市树木", "Felling of city trees"),
    "pipeline_attachment": (
        "依附于城市道路建设管线杆线",
        "Lines and poles attached to a city road",
    ),
    "road_excavation": ("挖掘城市道路", "Excavation of a city road"),
}

# labels for the layers both maps show
LAYER_LABELS: dict[str, tuple[str, str]] = {
    "roads": ("道路", "Roads"),
    "existing": ("现状地下管线", "Existing underground lines"),
    "proposed": ("拟建管线", "Proposed lines"),
    "trench": ("共同沟槽", "Shared trench"),
    "groups": ("同路由组", "Co-location groups"),
    "warnings": ("警示", "Warnings"),
    "trees": ("受影响树木", "Trees affected"),
    "protected": ("保护期道路", "Protected roads"),
    "poles": ("杆线", "Poles"),
    "base": ("底图", "Base map"),
}

ATTRIBUTION_OSM = "© OpenStreetMap contributors (ODbL)"


def utility_colour(utility: str) -> str:
    """Return the colour of one utility.

    Raises
    ------
    ValueError
        If ``utility`` is not one of ``UTILITIES``.

    Examples
    --------
    >>> utility_colour("gas")
    '#c9a100'
    """
    try:
        return UTILITY_COLOURS[utility]
    except KeyError:
        msg = f"unknown utility {utility!r}; expected one of {', '.join(UTILITIES)}"
        raise ValueError(msg) from None


def trench_colour(n_utilities: int) -> str:
    """Return the shared-trench colour for ``n_utilities`` sharers (6 and more share one).

    Examples
    --------
    >>> trench_colour(2) == TRENCH_RAMP[2]
    True
    """
    if n_utilities < 0:
        msg = f"n_utilities must be >= 0, got {n_utilities}"
        raise ValueError(msg)
    return TRENCH_RAMP[min(n_utilities, len(TRENCH_RAMP) - 1)]


def trench_width_px(n_utilities: int) -> float:
    """Return the shared-trench line width in CSS pixels for ``n_utilities`` sharers."""
    return LINE_WIDTHS_PX["trench_base"] + TRENCH_WIDTH_STEP_PX * max(n_utilities - 1, 0)


# a line's kind in the words of the trade (sub-types and tags of routing.sections.LineSpec)
SUBTYPE_LABELS: dict[tuple[str, str], tuple[str, str]] = {
    ("gas", "low"): ("低压燃气", "Gas, low pressure"),
    ("gas", "medium_b"): ("中压B燃气", "Gas, medium pressure B"),
    ("gas", "medium_a"): ("中压A燃气", "Gas, medium pressure A"),
    ("gas", "sub_high_b"): ("次高压B燃气", "Gas, sub-high pressure B"),
    ("gas", "sub_high_a"): ("次高压A燃气", "Gas, sub-high pressure A"),
    ("gas", "high_b"): ("高压B燃气", "Gas, high pressure B"),
    ("gas", "high_a"): ("高压A燃气", "Gas, high pressure A"),
    ("power", "direct_buried"): ("直埋电力电缆", "Power cable, direct-buried"),
    ("power", "conduit"): ("电力排管", "Power duct bank"),
    ("telecom", "direct_buried"): ("直埋通信光缆", "Telecom cable, direct-buried"),
    ("telecom", "duct"): ("通信管道", "Telecom duct"),
    ("drainage", "sewer"): ("污水", "Sewer"),
    ("drainage", "storm"): ("雨水", "Storm water"),
    ("heat", "supply"): ("热力供水", "Heat supply"),
    ("heat", "return"): ("热力回水", "Heat return"),
    ("heat", "steam"): ("蒸汽热力", "Steam"),
    ("reclaimed_water", ""): ("再生水", "Reclaimed water"),
}


def line_label(
    utility: str, subtype: str | None = None, tags: frozenset[str] = frozenset()
) -> tuple[str, str]:
    """``(中文, English)`` of a line: its sub-type or tag in the trade's words, else its utility.

    Examples
    --------
    >>> line_label("gas", "medium_a")
    ('中压A燃气', 'Gas, medium pressure A')
    >>> line_label("heat", "direct_buried", frozenset({"return"}))
    ('热力回水', 'Heat return')
    """
    family = "drainage" if utility in ("sewer", "storm", "sewer_storm") else utility
    for key in (subtype or "", *sorted(tags)):
        if (family, key) in SUBTYPE_LABELS:
            return SUBTYPE_LABELS[family, key]
    if (family, "") in SUBTYPE_LABELS:
        return SUBTYPE_LABELS[family, ""]
    return UTILITY_LABELS.get(family, (family, family))


def label(key: str, *, table: dict[str, tuple[str, str]] | None = None) -> str:
    """Return the bilingual label ``"中文 English"`` of a utility or layer key.

    Examples
    --------
    >>> label("water")
    '给水 Water'
    """
    tables = (table,) if table is not None else (UTILITY_LABELS, LAYER_LABELS, PERMIT_LABELS)
    for t in tables:
        if key in t:
            zh, en = t[key]
            return f"{zh} {en}"
    msg = f"no label for {key!r}"
    raise KeyError(msg)


def permit_label(permit_type: str) -> tuple[str, str]:
    """Return ``(中文, English)`` for a permit type.

    Raises
    ------
    ValueError
        If ``permit_type`` is not one of ``PERMIT_TYPES``.
    """
    try:
        return PERMIT_LABELS[permit_type]
    except KeyError:
        msg = f"unknown permit type {permit_type!r}; expected one of {', '.join(PERMIT_TYPES)}"
        raise ValueError(msg) from None
