"""Draw a trench cross-section to scale: lines, depths, clearances and the clauses cited."""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib as mpl
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from matplotlib.patches import Polygon
from matplotlib.patches import Rectangle

from maps import style
from routing.sections import FLAG_APPROVAL
from routing.sections import FLAG_MANUAL_REVIEW
from routing.sections import FLAG_UNVERIFIED
from routing.sections import CrossSection
from routing.sections import PlacedLine

__all__ = [
    "CJK_FONT_PATH",
    "cjk_font_available",
    "declutter",
    "render_section",
    "save_section",
    "section_png",
    "section_svg",
]

logger = logging.getLogger(__name__)

CJK_FONT_PATH = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
CJK_FONT_FAMILY = "Noto Sans CJK SC"

# standards keys that style.py does not name, drawn in the colour of their family
_COLOUR_KEY = {"sewer_storm": "drainage", "reclaimed_water": "water"}
_EXTRA_LABELS = {
    "reclaimed_water": ("再生水", "Reclaimed water"),
    "sewer_storm": ("排水", "Drainage"),
}
_STATUS_LABELS = {
    "ok": ("符合", "meets the cited rules"),
    FLAG_MANUAL_REVIEW: ("需人工复核", "needs manual review"),
    FLAG_APPROVAL: ("需采取安全措施并报批", "needs safety measures and approval"),
}
_STATUS_COLOURS = {
    "ok": "#1b5e20",
    FLAG_MANUAL_REVIEW: style.WARNING_COLOUR,
    FLAG_APPROVAL: "#e65100",
}
_SOIL = "#d7c4a3"
_CJK = re.compile(r"[\u2e80-\u9fff\u3000-\u303f\uff00-\uffef]+")
_FONT_PT = 7.0

_font_state: dict[str, bool] = {}


def cjk_font_available() -> bool:
    """True when the Noto CJK font is installed (Debian fonts-noto-cjk) and registered."""
    if "ok" not in _font_state:
        if CJK_FONT_PATH.exists():
            font_manager.fontManager.addfont(str(CJK_FONT_PATH))
            _font_state["ok"] = True
        else:
            logger.warning(
                "CJK font %s missing (install fonts-noto-cjk): section drawings fall back to "
                "English-only labels",
                CJK_FONT_PATH,
            )
            _font_state["ok"] = False
    return _font_state["ok"]


def render_section(section: CrossSection, *, ax: Axes | None = None) -> Figure:
    """Draw ``section`` to scale on ``ax`` (a new figure if None) and return the figure.

    Lines are circles of their outside diameter at their depth; the trench outline shows
    slopes or shoring; each adjacent pair's horizontal clearance and each line's cover are
    dimensioned with the required value, clause and verification level. Labels are in
    Chinese and English; without the Noto CJK font they are English only (logged, and said on
    the drawing).
    """
    with _rc():
        fig = ax.figure if ax is not None else Figure(figsize=(10, 7), layout="constrained")
        if ax is None:
            ax = fig.add_subplot()
        _draw(ax, section)
    return fig  # type: ignore[return-value]


def section_svg(section: CrossSection) -> bytes:
    """The drawing as SVG bytes."""
    return _encode(section, "svg")


def section_png(section: CrossSection, *, dpi: int = 150) -> bytes:
    """The drawing as PNG bytes."""
    return _encode(section, "png", dpi=dpi)


def save_section(fig: Figure, path: str | Path, *, dpi: int = 150) -> Path:
    """Write a drawing; the format follows the suffix (``.svg`` or ``.png``)."""
    out = Path(path)
    suffix = out.suffix.lower().lstrip(".")
    if suffix not in ("svg", "png"):
        msg = f"section drawings are written as .svg or .png, not {out.suffix!r}"
        raise ValueError(msg)
    with _rc():
        FigureCanvasAgg(fig)
        fig.savefig(out, format=suffix, dpi=dpi)
    return out


# -- drawing ------------------------------------------------------------------------------------


def _encode(section: CrossSection, fmt: str, *, dpi: int = 150) -> bytes:
    fig = render_section(section)
    buf = io.BytesIO()
    with _rc():
        FigureCanvasAgg(fig)
        fig.savefig(buf, format=fmt, dpi=dpi, metadata=_metadata(fmt))
    return buf.getvalue()


def _metadata(fmt: str) -> dict[str, str | None]:
    # reproducible SVG output: no creation date
    return {"Date": None} if fmt == "svg" else {}


@contextlib.contextmanager
def _rc() -> Iterator[None]:
    families = [CJK_FONT_FAMILY, "DejaVu Sans"] if cjk_font_available() else ["DejaVu Sans"]
    with mpl.rc_context(
        {
            "font.family": "sans-serif",
            "font.sans-serif": families,
            "font.size": _FONT_PT,
            "axes.unicode_minus": False,
            "svg.fonttype": "none",
            "svg.hashsalt": "cotrench",
        }
    ):
        yield


def _t(zh: str, en: str) -> str:
    """Bilingual label, or English alone when the CJK font is missing."""
    return f"{zh} {en}" if cjk_font_available() else en


def _plain(text: str) -> str:
    """Clause text safe for the fallback font (CJK replaced)."""
    if cjk_font_available():
        return text
    return _CJK.sub("", text.replace("表", "Table ")).strip()


def _draw(ax: Axes, section: CrossSection) -> None:
    depth = section.depth_m
    bottom = section.bottom_width_m
    n = section.slope_ratio.value if section.slope_ratio is not None else 0.0
    spread = n * depth
    # soil and the dug trench (x from the left wall at the bottom, y = -depth)
    margin = max(1.0, 0.25 * section.surface_width_m)
    left, right = -spread - margin, bottom + spread + margin
    ax.add_patch(Rectangle((left, -depth - 0.6), right - left, depth + 0.6, color=_SOIL, zorder=0))
    outline = [(-spread, 0.0), (0.0, -depth), (bottom, -depth), (bottom + spread, 0.0)]
    ax.add_patch(
        Polygon(outline, closed=True, facecolor="white", edgecolor="#424242", lw=1.0, zorder=1)
    )
    ax.plot([left, right], [0, 0], color="#212121", lw=1.5, zorder=2)
    if section.shoring is not None:
        b2 = section.shoring.value
        for x0 in (0.0, bottom - b2):
            ax.add_patch(
                Rectangle(
                    (x0, -depth),
                    b2,
                    depth,
                    facecolor="#8d6e63",
                    edgecolor="none",
                    hatch="///",
                    zorder=2,
                )
            )
    for k, line in enumerate(sorted(section.lines, key=lambda p: p.x_m)):
        _draw_line(ax, line, label_y=-0.12 - 0.22 * (k % 2))
    _dimension_pairs(ax, section)
    _dimension_widths(ax, section, spread)
    ax.set_xlim(left, right)
    ax.set_ylim(-depth - 0.6, 1.2)
    ax.set_aspect("equal")
    ax.set_xlabel(
        _t("横向距离 (m, 自红线侧沟壁)", "transverse distance (m, from the red-line wall)")
    )
    ax.set_ylabel(_t("深度 (m)", "depth (m)"))
    ax.set_title(_title(section), loc="left", fontsize=_FONT_PT + 1.5)
    notes = _notes(section)
    if notes:
        ax.text(
            0.0,
            -0.12,
            notes,
            transform=ax.transAxes,
            va="top",
            ha="left",
            fontsize=_FONT_PT - 0.5,
            color=_STATUS_COLOURS.get(section.status, "#212121"),
        )
    declutter(ax)


def declutter(ax: Axes, *, max_steps: int = 60) -> int:
    """Move labels apart until no two text boxes of the axes overlap; return how many moved.

    Greedy, in drawing order: a label that overlaps one already placed steps away from the
    ground line (up above it, down below it) by the overlap plus 2 px until it is clear.
    """
    fig: Any = ax.figure
    if not hasattr(fig.canvas, "get_renderer"):
        FigureCanvasAgg(fig)
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    placed: list[Any] = []
    moved = 0
    for text in [t for t in ax.texts if t.get_visible() and t.get_text().strip()]:
        box = text.get_window_extent(renderer)
        upward = text.get_transform() is ax.transData and text.get_position()[1] > 0
        steps = 0
        while steps < max_steps:
            hit = next((b for b in placed if box.overlaps(b)), None)
            if hit is None:
                break
            dy = (hit.y1 - box.y0 + 2.0) if upward else -(box.y1 - hit.y0 + 2.0)
            x, y = text.get_transform().transform(text.get_position())
            nx, ny = text.get_transform().inverted().transform((x, y + dy))
            text.set_position((float(nx), float(ny)))
            box = text.get_window_extent(renderer)
            steps += 1
        moved += steps > 0
        placed.append(box)
    return moved


def _utility_label(line: PlacedLine) -> str:
    spec = line.spec
    zh, en = style.line_label(spec.utility, spec.subtype, spec.tags)
    if (zh, en) == (spec.utility, spec.utility):
        zh, en = _EXTRA_LABELS.get(spec.key, (spec.key, spec.key))
    return _t(zh, en)


def _draw_line(ax: Axes, line: PlacedLine, *, label_y: float) -> None:
    colour = style.UTILITY_COLOURS.get(_COLOUR_KEY.get(line.spec.key, line.spec.utility), "#616161")
    r = line.spec.radius_m
    y = -line.centre_depth_m
    ax.add_patch(
        Circle((line.x_m, y), r, facecolor=colour, edgecolor="black", lw=0.6, alpha=0.9, zorder=4)
    )
    # cover dimension: ground to the top of the outer wall
    ax.annotate(
        "",
        xy=(line.x_m, -line.cover_m),
        xytext=(line.x_m, 0.0),
        arrowprops={"arrowstyle": "<->", "lw": 0.6, "color": "#455a64"},
        zorder=3,
    )
    rule = line.cover_rule
    why = ""
    if (
        line.frost_rule is not None
        and line.frost_cover_m is not None
        and line.cover_m <= line.frost_cover_m + 1e-9
    ):
        why = _plain(f"{line.frost_rule.governing.clause} ({_t('冻土', 'frost')})")
    elif rule is not None:
        why = _plain(f"{rule.clause}, {rule.verification}")
    else:
        why = "UNKNOWN"
    ax.text(
        line.x_m + 0.03,
        max(label_y, -line.cover_m / 2.0),
        f"{_t('覆土', 'cover')} {line.cover_m:.2f} m\n{why}",
        fontsize=_FONT_PT - 1,
        va="center",
        ha="left",
        zorder=5,
    )
    ax.text(
        line.x_m,
        -line.bottom_m - 0.08,
        f"{_utility_label(line)}\nD0 {line.spec.outside_diameter_mm:g} mm\nx = {line.x_m:.2f} m",
        fontsize=_FONT_PT - 1,
        va="top",
        ha="center",
        zorder=5,
    )


def _dimension_pairs(ax: Axes, section: CrossSection) -> None:
    ordered = sorted(section.lines, key=lambda p: p.x_m)
    by_pair = {frozenset((c.a, c.b)): c for c in section.clearances if c.kind == "horizontal"}
    for k, (a, b) in enumerate(itertools.pairwise(ordered)):
        c = by_pair.get(frozenset((a.index, b.index)))
        if c is None:
            continue
        y = 0.25 + 0.3 * (k % 2)
        x0, x1 = a.x_m + a.spec.radius_m, b.x_m - b.spec.radius_m
        colour = "#212121" if c.status == "ok" else style.WARNING_COLOUR
        ax.annotate(
            "",
            xy=(x1, y),
            xytext=(x0, y),
            arrowprops={"arrowstyle": "<->", "lw": 0.6, "color": colour},
        )
        for x in (x0, x1):
            ax.plot(
                [x, x], [y, -max(a.centre_depth_m, b.centre_depth_m)], color=colour, lw=0.3, ls=":"
            )
        need = "UNKNOWN" if c.required_m is None else f">= {c.required_m:.2f}"
        ax.text(
            (x0 + x1) / 2,
            y + 0.04,
            f"{c.actual_m:.2f} m ({need})\n{_plain(c.clause)}, {c.verification}",
            ha="center",
            va="bottom",
            fontsize=_FONT_PT - 1.5,
            color=colour,
        )


def _dimension_widths(ax: Axes, section: CrossSection, spread: float) -> None:
    y = -section.depth_m - 0.35
    ax.annotate(
        "",
        xy=(section.bottom_width_m, y),
        xytext=(0.0, y),
        arrowprops={"arrowstyle": "<->", "lw": 0.8},
    )
    ax.text(
        section.bottom_width_m / 2,
        y - 0.05,
        f"{_t('沟底宽', 'bottom width')} B = {section.bottom_width_m:.2f} m "
        f"({_plain(section.width_rule.clause)}: {section.width_rule.text})",
        ha="center",
        va="top",
    )
    ax.annotate(
        "",
        xy=(section.bottom_width_m + spread + 0.2, -section.depth_m),
        xytext=(section.bottom_width_m + spread + 0.2, 0.0),
        arrowprops={"arrowstyle": "<->", "lw": 0.8},
    )
    ax.text(
        section.bottom_width_m + spread + 0.25,
        -section.depth_m / 2,
        f"{_t('沟深', 'depth')} {section.depth_m:.2f} m",
        va="center",
        ha="left",
        rotation=90,
    )


def _title(section: CrossSection) -> str:
    zh, en = _STATUS_LABELS.get(section.status, (section.status, section.status))
    support = {
        "vertical": _t("直槽", "vertical walls"),
        "slope": _t("放坡", "side slopes")
        + (f" 1:{section.slope_ratio.value:g}" if section.slope_ratio is not None else ""),
        "shoring": _t("支护", "shoring"),
    }.get(section.support, section.support)
    road = "?" if section.road_width_m is None else f"{section.road_width_m:.2f} m"
    return (
        f"{_t('管线综合横断面', 'Shared-trench cross-section')} {section.segment_id} - "
        f"{_t(zh, en)}\n"
        f"{_t('地面开挖宽', 'surface width')} {section.surface_width_m:.2f} m, "
        f"{_t('道路宽', 'road width')} {road} "
        f"({_t('需', 'needs')} {section.road_width_needed_m:.2f} m), {support}, "
        f"{_t('车行道' if section.lane.startswith('motor') else '人行道/非机动车道', section.lane)}"
    )


def _notes(section: CrossSection) -> str:
    lines = []
    for flag in section.flags:
        tag = {
            FLAG_MANUAL_REVIEW: _t("人工复核", "MANUAL REVIEW"),
            FLAG_APPROVAL: _t("安全措施并报批", "SAFETY MEASURES AND APPROVAL"),
            FLAG_UNVERIFIED: _t("未核实数值", "UNVERIFIED VALUES"),
        }.get(flag.kind, flag.kind)
        clause = f" [{_plain(flag.clause)}]" if flag.clause else ""
        lines.extend(textwrap.wrap(f"{tag}: {_plain(flag.message)}{clause}", width=150))
    if not cjk_font_available():
        lines.append("CJK font missing (fonts-noto-cjk): Chinese labels left out of this drawing")
    return "\n".join(lines[:14])
