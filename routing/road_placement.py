"""Place a segment's lines across the whole road (道路横断面) as GB 50289-2016 §4.1 asks.

The road's cross-section comes from the road layer where it gives the bands, else from the
class templates of ``routing/data/road_templates.yaml`` (一/二/三/四块板, assumptions a city
replaces). Lines go under sidewalks, non-motor lanes and green strips first (§4.1.2), never
under street-tree strips (CJJ 75 §6.2.1), in the order of §4.1.3 from the red line, on both
sides where the red line is wider than ``both_sides_rule`` (§4.1.5); each line keeps the
表4.1.9 building row to the building line on the sidewalk side, the tree row to a tree strip
and the curb row only where it is next to a curb. The carriageway is used only when the rest
cannot hold the lines. The shared trench may become two trenches, one on each side.

Each trench is an ordinary :class:`~routing.sections.CrossSection` (its zone's edges are
passed as :class:`~routing.sections.TrenchSegment` edges), so quantities and sheets follow.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from routing import standards as std
from routing.errors import SectionError
from routing.section_types import BAND_KINDS
from routing.section_types import CrossSection
from routing.section_types import LineSpec
from routing.section_types import RoadBand
from routing.section_types import RoadSection
from routing.section_types import SiteConditions
from routing.section_types import TrenchSegment
from routing.sections import cross_section
from routing.sections import order_key

__all__ = [
    "ROAD_TEMPLATES",
    "RoadPlacement",
    "Trench",
    "Zone",
    "place_on_road",
    "road_section",
    "zones",
]

logger = logging.getLogger(__name__)

ROAD_TEMPLATES = Path(__file__).parent / "data" / "road_templates.yaml"
# bands lines may go under (§4.1.2), in the order they are tried
_LINE_BANDS = ("sidewalk", "non_motor", "green")
_LANE = {"sidewalk": "sidewalk", "green": "sidewalk", "non_motor": "non_motor"}
# utilities §4.1.5 puts on both sides of a wide road (distribution water and gas, telecom,
# power, drainage), in the order keys of §4.1.3
_BOTH_SIDES = ("water_distribution", "gas_distribution", "telecom", "power", "sewer", "storm")


@dataclass(frozen=True, slots=True)
class Zone:
    """A run of bands lines may go under, on one side of the road.

    ``start_m``/``end_m`` from the left red line. ``near_edge`` bounds it on its red-line side,
    ``far_edge`` on the other (``building``, ``tree``, ``curb``), each with the object's
    distance beyond the zone edge (setback, half a tree strip).
    """

    side: str
    start_m: float
    end_m: float
    kinds: tuple[str, ...]
    near_edge: str
    near_offset_m: float
    far_edge: str
    far_offset_m: float

    @property
    def width_m(self) -> float:
        """Zone width."""
        return self.end_m - self.start_m

    @property
    def lane(self) -> str:
        """Cover lane of 表4.1.1: ``motor`` under a carriageway, else ``non_motor``/``sidewalk``."""
        if "carriageway" in self.kinds:
            return "motor"
        return "non_motor" if "non_motor" in self.kinds else "sidewalk"


@dataclass(frozen=True, slots=True)
class Trench:
    """One trench of the placement: its zone, section, and where its wall sits in the road."""

    zone: Zone
    section: CrossSection
    segment: TrenchSegment

    @property
    def line_offsets_m(self) -> tuple[float, ...]:
        """Each line's centre from the left red line (the drawing's x)."""
        wall = self.section.wall_offset_m
        if self.zone.side == "left":
            return tuple(self.zone.start_m + wall + p.x_m for p in self.section.lines)
        return tuple(self.zone.end_m - wall - p.x_m for p in self.section.lines)

    @property
    def dig_m(self) -> tuple[float, float]:
        """The dig at the surface, from the left red line (start, end)."""
        n = self.section.slope_ratio.value if self.section.slope_ratio is not None else 0.0
        wall = self.section.wall_offset_m - n * self.section.depth_m
        width = self.section.surface_width_m
        if self.zone.side == "left":
            return self.zone.start_m + wall, self.zone.start_m + wall + width
        return self.zone.end_m - wall - width, self.zone.end_m - wall


@dataclass(frozen=True, slots=True)
class RoadPlacement:
    """Where a segment's lines go across its road, and why.

    ``rule`` names how the trenches were chosen: ``one_trench`` (outside the carriageway),
    ``two_trenches`` (one each side), ``both_sides`` (§4.1.5 wide road), ``carriageway``
    (the rest could not hold the lines) or ``flagged`` (nothing fits without approval).
    """

    road: RoadSection
    trenches: tuple[Trench, ...]
    rule: str
    reasons: tuple[str, ...]

    @property
    def needs_approval(self) -> bool:
        """Any trench needs safety measures and approval."""
        return any(t.section.needs_approval for t in self.trenches)

    @property
    def sections(self) -> tuple[CrossSection, ...]:
        """The trenches' sections."""
        return tuple(t.section for t in self.trenches)


# -- the road's cross-section ---------------------------------------------------------------------


@functools.cache
def _templates() -> Mapping[str, Any]:
    doc: Mapping[str, Any] = yaml.safe_load(ROAD_TEMPLATES.read_text(encoding="utf-8"))
    return doc


def road_section(
    road_class: str | None,
    *,
    bands: Iterable[tuple[str, float]] | None = None,
    red_line_width_m: float | None = None,
    building_setback_m: float | None = None,
) -> RoadSection:
    """The road's cross-section: the layer's bands where given, else the class template.

    Parameters
    ----------
    road_class
        OSM ``highway`` class (or a Chinese class key of the templates); unknown uses ``*``.
    bands
        ``(kind, width_m)`` from the left red line, from the city's road layer.
    red_line_width_m
        The layer's red-line width: a template is stretched to it by widening or narrowing
        its carriageways (kept at least 3 m).
    building_setback_m
        The layer's or city's building setback; default the template's.

    Raises
    ------
    SectionError
        An unknown band kind, a non-positive width, or a red line the template cannot take.
    """
    doc = _templates()
    classes = doc["classes"]
    template = classes.get(road_class or "*", classes["*"])
    setback = float(
        template["building_setback_m"] if building_setback_m is None else building_setback_m
    )
    if bands is not None:
        parsed = tuple(RoadBand(str(k), float(w)) for k, w in bands)
        out = RoadSection(parsed, road_class, "", setback, assumed=False, source="road layer")
    else:
        parsed = tuple(RoadBand(str(k), float(w)) for k, w in template["bands"])
        source = f"template {template['layout']} for {road_class or '*'} ({ROAD_TEMPLATES.name})"
        out = RoadSection(parsed, road_class, str(template["layout"]), setback, True, source)
        if red_line_width_m is not None:
            out = _stretch(out, red_line_width_m)
    for band in out.bands:
        if band.kind not in BAND_KINDS or not band.width_m > 0:
            msg = f"road band {band.kind!r} {band.width_m!r} m: kind must be one of {BAND_KINDS}"
            raise SectionError(msg)
    return out


def _stretch(road: RoadSection, red_line_width_m: float) -> RoadSection:
    carriage = [b for b in road.bands if b.kind == "carriageway"]
    rest = road.red_line_width_m - sum(b.width_m for b in carriage)
    if not carriage:
        scale = red_line_width_m / road.red_line_width_m
        bands = tuple(RoadBand(b.kind, b.width_m * scale) for b in road.bands)
    else:
        each = (red_line_width_m - rest) / len(carriage)
        if each < 3.0:  # too narrow for the template's other bands: scale the whole section
            scale = red_line_width_m / road.red_line_width_m
            bands = tuple(RoadBand(b.kind, b.width_m * scale) for b in road.bands)
        else:
            bands = tuple(
                RoadBand(b.kind, each) if b.kind == "carriageway" else b for b in road.bands
            )
    note = f"{road.source}, stretched to the layer's {red_line_width_m:g} m red line"
    return dataclasses.replace(road, bands=bands, source=note)


def zones(road: RoadSection, *, include_carriageway: bool = False) -> tuple[Zone, ...]:
    """Runs of bands lines may go under (§4.1.2), split at tree strips, carriageways, medians.

    With ``include_carriageway`` each carriageway is a zone too (curbs both sides).
    """
    edges = road.band_edges()
    half = road.red_line_width_m / 2.0
    out: list[Zone] = []
    i = 0
    while i < len(edges):
        band, start, _ = edges[i]
        allowed = band.kind in _LINE_BANDS or (include_carriageway and band.kind == "carriageway")
        if not allowed:
            i += 1
            continue
        j = i
        if band.kind != "carriageway":
            while j + 1 < len(edges) and edges[j + 1][0].kind in _LINE_BANDS:
                j += 1
        end = edges[j][2]
        left_kind, left_off = _edge(road, edges, i - 1)
        right_kind, right_off = _edge(road, edges, j + 1)
        if band.kind == "carriageway":  # a carriageway is bounded by its curbs
            left_kind, left_off, right_kind, right_off = "curb", 0.0, "curb", 0.0
        kinds = tuple(e[0].kind for e in edges[i : j + 1])
        side = "left" if (start + end) / 2.0 <= half else "right"
        if side == "left":
            out.append(Zone(side, start, end, kinds, left_kind, left_off, right_kind, right_off))
        else:
            out.append(Zone(side, start, end, kinds, right_kind, right_off, left_kind, left_off))
        i = j + 1
    return tuple(out)


def _edge(
    road: RoadSection, edges: Sequence[tuple[RoadBand, float, float]], k: int
) -> tuple[str, float]:
    if k < 0 or k >= len(edges):
        return "building", road.building_setback_m
    neighbour = edges[k][0]
    if neighbour.kind == "tree_strip":
        return "tree", neighbour.width_m / 2.0  # the tree row in the strip's middle
    return "curb", 0.0


# -- placement ---------------------------------------------------------------------------------


def place_on_road(
    lines: Sequence[LineSpec],
    road: RoadSection,
    *,
    segment_id: str,
    site: SiteConditions | None = None,
    length_m: float | None = None,
    method: str = "lp",
    **segment_fields: Any,
) -> RoadPlacement:
    """Choose the trench or trenches for a segment's lines across its road.

    Tried in turn: one trench outside the carriageway (sidewalk, non-motor lane, green strip:
    §4.1.2), either side; two trenches, one each side, the lines split in the §4.1.3 order;
    the carriageway; and when nothing fits, the carriageway (or the widest zone) flagged for
    safety measures and approval. On a road wider than ``both_sides_rule`` the §4.1.5 lines
    are laid on both sides.

    ``segment_fields`` pass on to each :class:`TrenchSegment` (geometry, crossings, pavement).
    """
    if not lines:
        msg = f"segment {segment_id!r}: no lines to place"
        raise SectionError(msg)
    site = site or SiteConditions()
    doc = std.load_standards().yaml["layout_rules.yaml"]
    both = doc["both_sides_rule"]
    reasons: list[str] = [f"road: {road.source}"]
    if road.assumed:
        reasons.append("road cross-section assumed from the class template (unverified)")

    road_segment_id = segment_fields.pop("road_segment_id", None) or segment_id

    def build(zone: Zone, group: Sequence[LineSpec], tag: str) -> Trench:
        seg = TrenchSegment(
            f"{segment_id}{tag}",
            tuple(group),
            length_m=length_m,
            road_width_m=zone.width_m,
            lane=zone.lane,
            left_edge=zone.near_edge,
            right_edge=zone.far_edge,
            left_offset_m=zone.near_offset_m,
            right_offset_m=zone.far_offset_m,
            road_class=road.road_class,
            road_segment_id=road_segment_id,
            **segment_fields,
        )
        return Trench(zone, cross_section(seg, site=site, method=method), seg)

    def fits(t: Trench) -> bool:
        return not t.section.needs_approval

    outside = zones(road)
    if road.red_line_width_m > float(both["red_line_width_threshold_m"]):
        lefts = [z for z in outside if z.side == "left"]
        rights = [z for z in outside if z.side == "right"]
        keys = [order_key(s) for s in lines]
        twice = [s for s, k in zip(lines, keys, strict=True) if k in _BOTH_SIDES]
        once = [s for s, k in zip(lines, keys, strict=True) if k not in _BOTH_SIDES]
        if lefts and rights and twice:
            reasons.append(
                f"red line {road.red_line_width_m:g} m > {both['red_line_width_threshold_m']} m: "
                f"distribution lines on both sides ({both['source_clause']})"
            )
            left = _first_fit([build(z, [*twice, *once], "-L") for z in lefts], fits)
            right = _first_fit([build(z, twice, "-R") for z in rights], fits)
            return RoadPlacement(road, (left, right), "both_sides", tuple(reasons))
    one = [build(z, lines, "") for z in outside]
    good = [t for t in one if fits(t)]
    if good:
        best = min(good, key=lambda t: _zone_rank(t.zone))
        reasons.append(f"one trench under the {'/'.join(best.zone.kinds)} (§4.1.2)")
        return RoadPlacement(road, (best,), "one_trench", tuple(reasons))
    pair = _two_trenches(lines, outside, build, fits)
    if pair is not None:
        reasons.append("one trench each side, lines split in the §4.1.3 order (§4.1.2, §4.1.5)")
        return RoadPlacement(road, pair, "two_trenches", tuple(reasons))
    carriage = [
        build(z, lines, "") for z in zones(road, include_carriageway=True) if z.lane == "motor"
    ]
    good = [t for t in carriage if fits(t)]
    if good:
        reasons.append("under the carriageway: sidewalks, non-motor lanes and green strips "
                       "cannot hold the lines (§4.1.2)")  # fmt: skip
        return RoadPlacement(road, (good[0],), "carriageway", tuple(reasons))
    candidates = carriage or one
    if not candidates:
        msg = f"segment {segment_id!r}: road has no band lines may go under ({road.source})"
        raise SectionError(msg)
    worst = min(candidates, key=lambda t: t.section.road_width_needed_m - (t.zone.width_m))
    reasons.append("no zone holds the lines at the table clearances: needs approval (§4.1.9)")
    return RoadPlacement(road, (worst,), "flagged", tuple(reasons))


def _zone_rank(zone: Zone) -> tuple[int, int, float]:
    first = min(_LINE_BANDS.index(k) for k in zone.kinds if k in _LINE_BANDS)
    return (first, 0 if zone.side == "left" else 1, zone.start_m)


def _first_fit(trenches: Sequence[Trench], fits: Any) -> Trench:
    good = [t for t in trenches if fits(t)]
    if good:
        return min(good, key=lambda t: _zone_rank(t.zone))
    return min(trenches, key=lambda t: t.section.road_width_needed_m - t.zone.width_m)


def _two_trenches(
    lines: Sequence[LineSpec], outside: Sequence[Zone], build: Any, fits: Any
) -> tuple[Trench, Trench] | None:
    lefts = sorted((z for z in outside if z.side == "left"), key=_zone_rank)
    rights = sorted((z for z in outside if z.side == "right"), key=_zone_rank)
    if not lefts or not rights:
        return None
    order, _ = std.layout_order()
    ranked = sorted(lines, key=lambda s: order.index(order_key(s)))
    for k in range(len(ranked) - 1, 0, -1):
        head, tail = ranked[:k], ranked[k:]
        for zl in lefts:
            left = build(zl, head, "-L")
            if not fits(left):
                continue
            for zr in rights:
                right = build(zr, tail, "-R")
                if fits(right):
                    return left, right
    return None
