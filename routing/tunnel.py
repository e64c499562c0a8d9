"""Tunnel or trench: where GB 50289 §4.2 / GB 50838 ask for a 综合管廊, a rough one beside it.

The conditions (``routing/standards/utility_tunnel.yaml: when_to_use_tunnel``) are read per
segment: the road too narrow for direct burial (the direct-buried placement needs approval),
a surface that must not be reopened, a major crossing (railway, river, complex junction),
dense lines (``cotrench_check.dense_lines_min_utilities``). When one holds, the segment gets a
recommendation: a cable tunnel (缆线管廊) when it carries only power and telecom, else a utility
tunnel (综合管廊), with compartments by GB 50838 §4.3 (gas alone, steam alone, heat never with
power: ``same_compartment_allowed``) and a rough section (assumptions, flagged as such).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from routing import standards as std
from routing.section_types import LineSpec

__all__ = ["Compartment", "TunnelOption", "tunnel_key", "tunnel_option"]

_ZH = {
    "gas": "燃气",
    "heat_steam": "蒸汽热力",
    "heat_hot_water": "热力",
    "power": "电力",
    "telecom": "通信",
    "water": "给水",
    "reclaimed_water": "再生水",
    "sewer": "污水",
    "storm": "雨水",
}
# the order compartments are filled in (the most restricted first)
_FILL = (
    "gas",
    "heat_steam",
    "power",
    "telecom",
    "heat_hot_water",
    "water",
    "reclaimed_water",
    "sewer",
    "storm",
)


@dataclass(frozen=True, slots=True)
class Compartment:
    """One compartment (舱室): its utilities, lines and rough clear width and height."""

    name: str
    utilities: tuple[str, ...]
    lines: tuple[str, ...]
    width_m: float
    height_m: float


@dataclass(frozen=True, slots=True)
class TunnelOption:
    """A recommended tunnel for a segment, beside its direct-buried trench."""

    kind: str
    kind_zh: str
    reasons: tuple[str, ...]
    clauses: tuple[str, ...]
    compartments: tuple[Compartment, ...]
    width_m: float
    height_m: float
    verification: str
    note: str

    def as_dict(self) -> dict[str, object]:
        """Plain dict for JSON output."""
        return {
            "kind": self.kind,
            "kind_zh": self.kind_zh,
            "reasons": list(self.reasons),
            "clauses": list(self.clauses),
            "compartments": [
                {
                    "name": c.name,
                    "utilities": list(c.utilities),
                    "lines": list(c.lines),
                    "width_m": round(c.width_m, 3),
                    "height_m": round(c.height_m, 3),
                }
                for c in self.compartments
            ],
            "width_m": round(self.width_m, 3),
            "height_m": round(self.height_m, 3),
            "verification": self.verification,
            "note": self.note,
        }


def tunnel_key(spec: LineSpec) -> str:
    """The tunnel word of a line (``utility_tunnel.yaml``): heat split by steam or hot water."""
    tags = set(spec.tags) | ({spec.subtype} if spec.subtype else set())
    if spec.key == "heat":
        return "heat_steam" if "steam" in tags else "heat_hot_water"
    if spec.key == "sewer_storm":
        return "storm" if "storm" in tags else "sewer"
    return spec.key


def tunnel_option(
    lines: Sequence[LineSpec],
    *,
    direct_burial_needs_approval: bool,
    no_reopen: bool = False,
    major_crossing: bool = False,
) -> TunnelOption | None:
    """Recommend a tunnel when a GB 50289 §4.2.1 condition holds, else ``None``.

    Parameters
    ----------
    lines
        The segment's lines.
    direct_burial_needs_approval
        The direct-buried placement could not meet the tables (the road is too narrow).
    no_reopen
        The surface must not be reopened (a moratorium road, an important public space).
    major_crossing
        The segment crosses a railway, a river or a complex junction.
    """
    doc = std.load_standards().yaml["utility_tunnel.yaml"]
    when = doc["when_to_use_tunnel"]
    check = doc["cotrench_check"]
    conditions = [str(c) for c in when["conditions"]]
    utilities = sorted({tunnel_key(s) for s in lines}, key=_FILL.index)
    reasons = []
    if direct_burial_needs_approval:
        reasons.append(conditions[2])
    if no_reopen:
        reasons.append(conditions[4])
    if major_crossing:
        reasons.append(conditions[3])
    if len(utilities) >= int(check["dense_lines_min_utilities"]):
        reasons.append(f"{conditions[0]} ({len(utilities)} utilities in the segment)")
    if not reasons:
        return None
    cable_only = set(utilities) <= set(check["cable_tunnel_utilities"])
    kind, kind_zh = ("cable_tunnel", "缆线管廊") if cable_only else ("utility_tunnel", "综合管廊")
    compartments = _compartments(lines, doc)
    walls = float(check["rough_section"]["wall_thickness_m"])
    width = sum(c.width_m for c in compartments) + walls * (len(compartments) + 1)
    height = max(c.height_m for c in compartments) + 2 * walls
    rules = {r["id"]: r for r in doc["compartment_rules"]}
    clauses = (
        str(when["source_clause"]),
        str(rules["gas_own_compartment"]["source_clause"]),
        str(rules["steam_heat_own_compartment"]["source_clause"]),
        str(rules["heat_not_with_power"]["source_clause"]),
    )
    return TunnelOption(
        kind=kind,
        kind_zh=kind_zh,
        reasons=tuple(reasons),
        clauses=clauses,
        compartments=compartments,
        width_m=width,
        height_m=height,
        verification=str(when["verification"]),
        note=(
            "rough section: compartment widths from the lines' D0, a per-line allowance and the "
            f"inspection passage; {check['source']} (unverified); design it under GB 50838"
        ),
    )


def _compartments(lines: Sequence[LineSpec], doc: Mapping[str, Any]) -> tuple[Compartment, ...]:
    allowed = doc["same_compartment_allowed"]
    rough = doc["cotrench_check"]["rough_section"]

    def compatible(a: str, b: str) -> bool:
        if "gas" in (a, b) and a != b:  # gas alone (GB 50838 §4.3.4)
            return False
        for x, y in ((a, b), (b, a)):
            row = allowed.get(x)
            family = "heat" if y.startswith("heat") else y
            if isinstance(row, dict) and (y in row or family in row):
                return bool(row.get(y, row.get(family)))
        return True

    groups: list[list[LineSpec]] = []
    for spec in sorted(lines, key=lambda s: _FILL.index(tunnel_key(s))):
        key = tunnel_key(spec)
        home = next(
            (g for g in groups if all(compatible(key, tunnel_key(o)) for o in g)),
            None,
        )
        if home is None:
            groups.append([spec])
        else:
            home.append(spec)
    out = []
    for group in groups:
        keys = tuple(dict.fromkeys(tunnel_key(s) for s in group))
        d0 = sum(s.outside_diameter_mm for s in group) / 1000.0
        width = (
            float(rough["passage_one_side_m"])
            + d0
            + float(rough["per_line_allowance_m"]) * len(group)
        )
        biggest = max(s.outside_diameter_mm for s in group) / 1000.0
        height = max(float(rough["min_clear_height_m"]), biggest + 1.0)
        name = "、".join(_ZH[k] for k in keys) + "舱"
        out.append(Compartment(name, keys, tuple(s.name for s in group), width, height))
    return tuple(out)
