"""Hold the inputs and results of the cross-section layout (frozen dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Any

from shapely.geometry.base import BaseGeometry

from routing import standards as std

__all__ = [
    "BAND_KINDS",
    "EDGE_KINDS",
    "FLAG_APPROVAL",
    "FLAG_EXPERT_REVIEW",
    "FLAG_MANUAL_REVIEW",
    "FLAG_SPECIAL_SCHEME",
    "FLAG_UNVERIFIED",
    "UTILITIES",
    "UTILITY_KEYS",
    "Clearance",
    "CrossSection",
    "ExistingLine",
    "LineSpec",
    "PlacedLine",
    "RoadBand",
    "RoadSection",
    "SectionFlag",
    "SiteConditions",
    "TrenchSegment",
]

# flag kinds shown on every output
FLAG_MANUAL_REVIEW = "needs_manual_review"
FLAG_APPROVAL = "needs_safety_measures_and_approval"
FLAG_UNVERIFIED = "unverified_values"
FLAG_SPECIAL_SCHEME = "special_construction_scheme"
FLAG_EXPERT_REVIEW = "expert_review"

# project utility words (geodata.utilities) and the standards' own words -> standards key
UTILITY_KEYS = {
    "water": "water",
    "drainage": "sewer_storm",
    "sewer_storm": "sewer_storm",
    "sewer": "sewer_storm",
    "storm": "sewer_storm",
    "reclaimed_water": "reclaimed_water",
    "gas": "gas",
    "heat": "heat",
    "power": "power",
    "telecom": "telecom",
}
UTILITIES = tuple(sorted(UTILITY_KEYS))
# what bounds a trench's zone on one side, and the 表4.1.9 row its lines keep clear of
EDGE_KINDS = {"curb": "curb", "building": "building", "tree": "tree", "open": None}
BAND_KINDS = ("sidewalk", "tree_strip", "non_motor", "green", "carriageway", "median")
_MM_PER_M = 1000.0


@dataclass(frozen=True, slots=True)
class LineSpec:
    """One line to lay in the trench.

    Attributes
    ----------
    utility
        ``water``, ``drainage`` (or ``sewer_storm``), ``reclaimed_water``, ``gas``, ``heat``,
        ``power``, ``telecom``.
    outside_diameter_mm
        D0, outer wall with protective layer (for a duct bank: its width).
    subtype
        Gas pressure class (``low``, ``medium_b``, ``medium_a``, ``sub_high_b``,
        ``sub_high_a``); power ``direct_buried`` or ``conduit``; telecom ``direct_buried`` or
        ``duct``; heat ``direct_buried``; drainage ``sewer`` or ``storm``.
    dn_mm
        Nominal diameter, used for the diameter classes of the tables (water DN ≤ 200, gas
        DN ≤ 300). Defaults to D0, which errs on the larger class.
    role
        ``distribution`` or ``transmission`` (order of §4.1.3 for water and gas).
    material
        Column of GB 50268 表4.3.2: ``metal_or_plastic``, ``concrete_flexible_joint``,
        ``concrete_rigid_joint``.
    tags
        Extra subtypes from the tables' vocabulary (``pe`` water, ``wet`` gas,
        ``steel_conduit`` telecom...).
    formwork_mm
        b3, formwork thickness per side for cast-in-place concrete conduits (0 otherwise).
    label
        Free name shown on outputs.
    pressure_mpa
        Gas design pressure (gauge, MPa); sets the pressure class of GB 50028 §6.1.6
        (``utility_rules.yaml``) when ``subtype`` is not given, e.g. 2.5 MPa -> ``high_b``.
    """

    utility: str
    outside_diameter_mm: float
    subtype: str | None = None
    dn_mm: float | None = None
    role: str = "distribution"
    material: str = "metal_or_plastic"
    tags: frozenset[str] = frozenset()
    formwork_mm: float = 0.0
    label: str = ""
    pressure_mpa: float | None = None

    @property
    def key(self) -> str:
        """Standards key of the utility (``drainage`` -> ``sewer_storm``)."""
        return UTILITY_KEYS[self.utility]

    @property
    def radius_m(self) -> float:
        """Half the outside diameter in metres."""
        return self.outside_diameter_mm / _MM_PER_M / 2.0

    @property
    def name(self) -> str:
        """Label, or utility and subtype."""
        return self.label or "/".join(p for p in (self.utility, self.subtype) if p)


@dataclass(frozen=True, slots=True)
class ExistingLine:
    """An existing line crossing the trench (for vertical clearances, 表4.1.14).

    ``top_depth_m`` or ``outside_diameter_mm`` ``None`` means not surveyed: the crossing
    cannot be checked and the section needs manual review.
    """

    utility: str
    top_depth_m: float | None
    outside_diameter_mm: float | None
    subtype: str | None = None
    label: str = ""

    @property
    def key(self) -> str:
        """Standards key of the utility."""
        return UTILITY_KEYS.get(self.utility, self.utility)

    @property
    def surveyed(self) -> bool:
        """Depth and diameter are both known."""
        return self.top_depth_m is not None and self.outside_diameter_mm is not None

    @property
    def bottom_depth_m(self) -> float:
        """Depth of the outer wall's bottom (NaN when not surveyed)."""
        if self.top_depth_m is None or self.outside_diameter_mm is None:
            return float("nan")
        return self.top_depth_m + self.outside_diameter_mm / _MM_PER_M


@dataclass(frozen=True, slots=True)
class TrenchSegment:
    """A length of shared trench with its lines and the road that hosts it.

    ``geometry`` is a LineString in a metric CRS (the trench centreline); ``length_m``
    defaults to its length. ``road_width_m`` is the width available to the dig; ``None``
    means unknown and the section needs manual review; ``road_segment_id`` names the road
    segment (street row) this piece belongs to; ``road_width_note`` says where an
    assumed width came from (shown as unverified). ``lane`` is ``motor`` or ``non_motor``
    (sidewalk or non-motor lane).
    """

    segment_id: str
    lines: tuple[LineSpec, ...]
    geometry: BaseGeometry | None = None
    length_m: float | None = None
    road_width_m: float | None = None
    lane: str = "motor"
    pavement: str | None = None
    road_class: str | None = None
    crossings: tuple[ExistingLine, ...] = ()
    road_width_note: str = ""
    road_segment_id: str | None = None
    left_edge: str | None = None
    right_edge: str | None = None
    left_offset_m: float = 0.0
    right_offset_m: float = 0.0

    @property
    def edges(self) -> tuple[str, str]:
        """What bounds the zone on the red-line side and the far side (``EDGE_KINDS``).

        Unset edges follow the lane: both curbs under a motor lane, else an open red-line
        side and the road-side curb. ``building`` keeps the 表4.1.9 building row from a
        building ``left_offset_m`` beyond the zone edge (the setback); ``tree`` the tree row.
        """
        motor = std.LANES.get(self.lane) == "motor_lane"
        left = self.left_edge or ("curb" if motor else "open")
        return left, self.right_edge or "curb"

    @property
    def trench_length_m(self) -> float:
        """Length of the segment (``length_m`` or the geometry's length)."""
        if self.length_m is not None:
            return float(self.length_m)
        if self.geometry is None:
            return 0.0
        return float(self.geometry.length)


@dataclass(frozen=True, slots=True)
class RoadBand:
    """One band of a road's cross-section (``BAND_KINDS``), left red line to right."""

    kind: str
    width_m: float


@dataclass(frozen=True, slots=True)
class RoadSection:
    """A road's cross-section (道路横断面): its bands from the left red line to the right.

    ``source`` says where it came from (the road layer, or a class template of
    ``routing/data/road_templates.yaml``); ``assumed`` marks template defaults, which are
    shown as assumptions. ``building_setback_m`` is the building line's distance behind the
    red line (建筑退线, a city parameter).
    """

    bands: tuple[RoadBand, ...]
    road_class: str | None = None
    layout: str = ""
    building_setback_m: float = 0.0
    assumed: bool = True
    source: str = ""

    @property
    def red_line_width_m(self) -> float:
        """Width between the red lines."""
        return float(sum(b.width_m for b in self.bands))

    def band_edges(self) -> tuple[tuple[RoadBand, float, float], ...]:
        """Each band with its start and end from the left red line."""
        out = []
        start = 0.0
        for band in self.bands:
            out.append((band, start, start + band.width_m))
            start += band.width_m
        return tuple(out)


@dataclass(frozen=True, slots=True)
class SiteConditions:
    """City and site parameters (not standards values).

    Attributes
    ----------
    frost_depth_m
        Standard soil frost depth (city parameter, ``cities.frost_depth_m``); ``None``
        outside cold regions. Harbin's is about 1.8-2.0 m (unverified; local design value).
    slope_soil
        Row of GB 50268 表4.3.3 (side slopes).
    wall_soil
        Key of ``vertical_walls_without_support_max_depth_m``.
    top_load
        Column of 表4.3.3: ``no_load_at_top``, ``static_load_at_top``, ``dynamic_load_at_top``.
    support
        ``auto`` (vertical walls if shallow enough, else slopes if they fit the known road
        width, else shoring), ``slope``, ``shoring`` or ``vertical``.
    sewer_frost_rule
        How drainage meets the frost line (a city parameter, GB 50014-2021 §5.3.8):
        ``crown`` (the crown at or below the frost line, conservative) or ``invert`` (the
        pipe bottom may sit 0.15 m above it, where the city's experience allows).
    """

    frost_depth_m: float | None = None
    slope_soil: str = "stiff_silty_clay_or_clay"
    wall_soil: str = "clay"
    top_load: str = "dynamic_load_at_top"
    support: str = "auto"
    sewer_frost_rule: str = "crown"


@dataclass(frozen=True, slots=True)
class SectionFlag:
    """A finding shown with the section: manual review, approval needed, unverified values."""

    kind: str
    message: str
    clause: str = ""
    verification: str = ""

    def as_dict(self) -> dict[str, str]:
        """Plain dict for JSON output."""
        return {
            "kind": self.kind,
            "message": self.message,
            "clause": self.clause,
            "verification": self.verification,
        }


@dataclass(frozen=True, slots=True)
class Clearance:
    """One required distance and the distance the section gives.

    ``kind`` is ``horizontal`` (line to line, edge to edge), ``vertical`` (to an existing
    crossing line), ``cover`` (top of line to ground), ``working_width`` (outer wall to the
    trench wall, b1). ``status`` is ``ok``, ``unknown`` (no rule) or ``violated``.
    """

    kind: str
    a: int
    b: int | None
    other: str
    required_m: float | None
    actual_m: float
    rule: std.RuleValue | None
    status: str

    @property
    def clause(self) -> str:
        """Cited clause, or ``UNKNOWN``."""
        return self.rule.clause if self.rule is not None else "UNKNOWN"

    @property
    def verification(self) -> str:
        """Verification level of the cited value, or ``UNKNOWN``."""
        return self.rule.verification if self.rule is not None else "UNKNOWN"

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return {
            "kind": self.kind,
            "a": self.a,
            "b": self.b,
            "other": self.other,
            "required_m": self.required_m,
            "actual_m": round(self.actual_m, 4),
            "status": self.status,
            "clause": self.clause,
            "verification": self.verification,
            "source": self.rule.source if self.rule is not None else "",
        }


@dataclass(frozen=True, slots=True)
class PlacedLine:
    """A line at its place: centre from the left wall (red-line side) and depths."""

    index: int
    spec: LineSpec
    order_key: str
    x_m: float
    offset_m: float
    cover_m: float
    bottom_m: float
    cover_rule: std.RuleValue | None
    frost_rule: std.FrostRule | None
    frost_cover_m: float | None
    working_width: std.RuleValue
    bedding: std.RuleValue | None = None

    @property
    def centre_depth_m(self) -> float:
        """Depth of the centre."""
        return self.cover_m + self.spec.radius_m

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        frost = None
        if self.frost_rule is not None:
            frost = {
                "clause": self.frost_rule.governing.clause,
                "verification": self.frost_rule.governing.verification,
                "cover_m": self.frost_cover_m,
                "margin": None
                if self.frost_rule.margin is None
                else self.frost_rule.margin.as_dict(),
            }
        return {
            "index": self.index,
            "label": self.spec.name,
            "utility": self.spec.utility,
            "subtype": self.spec.subtype,
            "outside_diameter_mm": self.spec.outside_diameter_mm,
            "order_key": self.order_key,
            "x_m": round(self.x_m, 4),
            "offset_m": round(self.offset_m, 4),
            "cover_m": round(self.cover_m, 4),
            "bottom_m": round(self.bottom_m, 4),
            "cover_rule": None if self.cover_rule is None else self.cover_rule.as_dict(),
            "frost": frost,
            "working_width": self.working_width.as_dict(),
            "bedding": None if self.bedding is None else self.bedding.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class CrossSection:
    """The laid-out section of one trench segment, with every value cited.

    Widths: ``bottom_width_m`` is B between the walls at the bottom (b2 included when
    shored); ``surface_width_m`` is the width opened at the surface (B plus both slopes);
    ``road_width_needed_m`` is the road the section needs: the dig, and each line at its
    表4.1.9 clearance from the curb (both curbs under a motor lane, the road-side curb under
    a sidewalk), with ``curb_rules`` the rule per line.
    ``x_m`` of the lines runs from the left wall at the bottom (red-line side).
    """

    segment_id: str
    lane: str
    lines: tuple[PlacedLine, ...]
    clearances: tuple[Clearance, ...]
    depth_m: float
    bottom_width_m: float
    surface_width_m: float
    support: str
    slope_ratio: std.RuleValue | None
    shoring: std.RuleValue | None
    width_rule: std.Rule
    road_width_m: float | None
    length_m: float
    flags: tuple[SectionFlag, ...]
    method: str
    site: SiteConditions = field(default_factory=SiteConditions)
    road_width_needed_m: float = 0.0
    curb_rules: tuple[tuple[int, std.RuleValue | None], ...] = ()
    edges: tuple[str, str] = ("curb", "curb")
    edge_offsets_m: tuple[float, float] = (0.0, 0.0)
    edge_rules: tuple[tuple[int, str, std.RuleValue | None], ...] = ()
    wall_offset_m: float = 0.0
    binding: tuple[tuple[str, std.RuleValue], ...] = ()

    @property
    def needs_manual_review(self) -> bool:
        """A rule was missing (UNKNOWN) or an input could not be checked."""
        return any(f.kind == FLAG_MANUAL_REVIEW for f in self.flags)

    @property
    def needs_approval(self) -> bool:
        """The road cannot host the section as the tables require (§4.1.9)."""
        return any(f.kind == FLAG_APPROVAL for f in self.flags)

    @property
    def unverified(self) -> bool:
        """A value that fixes the section (``binding``) is ``unverified`` in the tables."""
        return any(f.kind == FLAG_UNVERIFIED for f in self.flags)

    @property
    def status(self) -> str:
        """``needs_manual_review``, ``needs_safety_measures_and_approval`` or ``ok``."""
        if self.needs_manual_review:
            return FLAG_MANUAL_REVIEW
        if self.needs_approval:
            return FLAG_APPROVAL
        return "ok"

    @property
    def unverified_rules(self) -> tuple[std.RuleValue, ...]:
        """The cited values whose verification is ``unverified``."""
        return tuple(r for r in self.cited_rules() if r.unverified)

    @property
    def binding_unverified(self) -> tuple[tuple[str, std.RuleValue], ...]:
        """The binding values (``binding``: what fixes width, depth, road width) unverified."""
        return tuple((what, r) for what, r in self.binding if r.unverified)

    def cited_rules(self) -> tuple[std.RuleValue, ...]:
        """Every value the section relies on, once each."""
        seen: dict[str, std.RuleValue] = {}
        for c in self.clearances:
            if c.rule is not None:
                seen.setdefault(c.rule.source, c.rule)
        for line in self.lines:
            if line.frost_rule is not None and line.frost_rule.margin is not None:
                seen.setdefault(line.frost_rule.margin.source, line.frost_rule.margin)
        for rule in (
            self.slope_ratio,
            self.shoring,
            *(r for _, r in self.curb_rules),
            *(r for _, _, r in self.edge_rules),
            *(p.bedding for p in self.lines),
        ):
            if rule is not None:
                seen.setdefault(rule.source, rule)
        return tuple(seen.values())

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output (every value with clause and verification)."""
        return {
            "segment_id": self.segment_id,
            "status": self.status,
            "unverified": self.unverified,
            "lane": self.lane,
            "method": self.method,
            "length_m": round(self.length_m, 3),
            "depth_m": round(self.depth_m, 4),
            "bottom_width_m": round(self.bottom_width_m, 4),
            "surface_width_m": round(self.surface_width_m, 4),
            "road_width_m": self.road_width_m,
            "road_width_needed_m": round(self.road_width_needed_m, 4),
            "curb_rules": [
                {"line": i, **(r.as_dict() if r is not None else {"clause": "UNKNOWN"})}
                for i, r in self.curb_rules
            ],
            "edges": list(self.edges),
            "edge_offsets_m": list(self.edge_offsets_m),
            "edge_rules": [
                {"line": i, "side": side, **(r.as_dict() if r else {"clause": "UNKNOWN"})}
                for i, side, r in self.edge_rules
            ],
            "wall_offset_m": round(self.wall_offset_m, 4),
            "support": self.support,
            "slope_ratio": None if self.slope_ratio is None else self.slope_ratio.as_dict(),
            "shoring": None if self.shoring is None else self.shoring.as_dict(),
            "width_rule": {
                "text": self.width_rule.text,
                "clause": self.width_rule.clause,
                "verification": self.width_rule.verification,
            },
            "frost_depth_m": self.site.frost_depth_m,
            "binding": [{"binds": what, **r.as_dict()} for what, r in self.binding],
            "binding_unverified": len(self.binding_unverified),
            "cited_unverified": len(self.unverified_rules),
            "lines": [line.as_dict() for line in self.lines],
            "clearances": [c.as_dict() for c in self.clearances],
            "flags": [f.as_dict() for f in self.flags],
        }
