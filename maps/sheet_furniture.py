"""Draw the furniture of a printed sheet: header, legend, north arrow, scale bar, title block."""

from __future__ import annotations

import math
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import pyproj
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrow
from matplotlib.patches import Patch
from matplotlib.patches import Rectangle

from maps import style
from maps.frames import MapContext
from maps.frames import TrenchFrames
from maps.sheet_layout import SheetInfo
from maps.sheet_layout import SheetLayout
from maps.sheet_layout import font_k
from maps.sheet_layout import frame_fraction
from maps.sheet_layout import frame_mm
from maps.sheet_layout import map_units_per_paper_mm

__all__ = [
    "draw_header",
    "draw_legend",
    "draw_north_arrow",
    "draw_quantities",
    "draw_scale_bar",
    "draw_section_panel",
    "draw_title_block",
    "fit_text",
    "nice_length",
    "panel",
    "permit_count",
    "plan_facts",
]


def panel(fig: Figure, paper: str, key: str) -> Axes:
    ax = fig.add_axes(frame_fraction(paper, key))
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    return ax


def draw_header(fig: Figure, paper: str, info: SheetInfo, count: str) -> None:
    ax = panel(fig, paper, "header")
    k = font_k(paper)
    zh, en = style.permit_label(info.permit_type)
    ax.text(0, 0.95, zh + " 附图", fontsize=17 * k, va="top")
    ax.text(0, 0.55, f"{en} — route map", fontsize=9 * k, va="top")
    ax.text(0, 0.3, f"申请编号 Application No. {info.application_no}", fontsize=9.5 * k, va="top")
    if count:
        ax.text(0, 0.05, count, fontsize=8.5 * k, va="top", color="#b71c1c")


def permit_count(permit_type: str, context: MapContext) -> str:
    """The count a permit is decided on, where the map's context layers give it."""
    if permit_type == "tree_felling" and context.trees is not None:
        trees = context.trees
        if "action" in trees:
            fell = int((trees["action"] == "fell").sum())
            protect = int((trees["action"] == "protect").sum())
            return (
                f"应伐 {fell} 株 · 需保护 {protect} 株 · trees to fell: {fell}, to protect: "
                f"{protect} (whole route, CJJ 75-97 表6.2.1)"
            )
        n = int(trees["affected"].fillna(False).astype(bool).sum()) if "affected" in trees else 0
        return f"受影响树木 {n} 株 · trees affected: {n} (whole route)"
    if permit_type == "pipeline_attachment" and context.poles is not None:
        n = len(context.poles)
        return f"沿线杆 {n} 根 · poles along the route: {n}"
    return ""


def draw_legend(
    fig: Figure, paper: str, frames: TrenchFrames, context: MapContext, permit_type: str
) -> None:
    ax = panel(fig, paper, "legend")
    k = font_k(paper)
    handles: list[Any] = []
    for utility in style.UTILITIES:
        if utility in set(frames.routes["utility"]):
            handles.append(Line2D([], [], color=style.utility_colour(utility), lw=1.5))
            handles[-1].set_label(f"拟建 {style.label(utility)}")
    for n in sorted(set(frames.edges["n_utilities"])):
        handles.append(Patch(color=style.trench_colour(int(n)), alpha=0.55))
        handles[-1].set_label(f"共同沟槽 Shared trench: {int(n)}")
    if context.roads is not None and len(context.roads):
        handles.append(Line2D([], [], color=style.CONTEXT_STYLES["road"]["color"], lw=1))
        handles[-1].set_label(style.label("roads"))
    if context.existing is not None and len(context.existing):
        handles.append(Line2D([], [], color="#555555", lw=0.8, ls=(0, (4, 3))))
        handles[-1].set_label(style.label("existing"))
    if context.trees is not None and len(context.trees):
        s = style.CONTEXT_STYLES["tree_affected"]
        handles.append(
            Line2D([], [], marker="o", ls="", markerfacecolor=s["fill"], markeredgecolor=s["color"])
        )
        handles[-1].set_label(style.label("trees"))
    if context.protected is not None and len(context.protected):
        s = style.CONTEXT_STYLES["protected"]
        handles.append(Patch(facecolor=s["fill"], edgecolor=s["color"], ls="--"))
        handles[-1].set_label(style.label("protected"))
    if permit_type == "pipeline_attachment" and context.poles is not None and len(context.poles):
        handles.append(
            Line2D([], [], marker="s", ls="", color=style.CONTEXT_STYLES["pole"]["color"])
        )
        handles[-1].set_label(style.label("poles"))
    ax.legend(
        handles=handles,
        loc="upper left",
        fontsize=7 * k,
        title="图例 Legend",
        title_fontsize=8.5 * k,
        frameon=True,
        alignment="left",
    )


def draw_north_arrow(
    fig: Figure, paper: str, crs: Any, window: tuple[float, float, float, float]
) -> None:
    ax = panel(fig, paper, "north")
    k = font_k(paper)
    # grid north is up; the arrow points to true north, off by the meridian convergence
    cx, cy = (window[0] + window[2]) / 2, (window[1] + window[3]) / 2
    lon, lat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(cx, cy)
    gamma = float(pyproj.Proj(crs).get_factors(lon, lat).meridian_convergence)
    angle = math.radians(gamma)
    dx, dy = 0.62 * math.sin(angle), 0.62 * math.cos(angle)
    ax.add_patch(
        FancyArrow(
            0.5 - dx / 2,
            0.12,
            dx,
            dy,
            width=0.08,
            head_width=0.25,
            length_includes_head=True,
            color="black",
        )
    )
    ax.text(0.5, 0.8, "N 北", ha="center", va="bottom", fontsize=9 * k)
    ax.text(0.5, 0.05, f"γ = {gamma:+.2f}°", ha="center", fontsize=5.5 * k)


def draw_scale_bar(fig: Figure, paper: str, scale: int) -> None:
    ax = panel(fig, paper, "scalebar")
    k = font_k(paper)
    _, _, w_mm, _ = frame_mm(paper, "scalebar")
    per_mm = map_units_per_paper_mm(scale)
    bar_m = nice_length(0.75 * w_mm * per_mm)
    bar_share = bar_m / per_mm / w_mm  # of the panel width
    parts = 4
    for i in range(parts):
        x0 = i * bar_share / parts
        ax.add_patch(
            Rectangle(
                (x0, 0.45),
                bar_share / parts,
                0.12,
                facecolor="black" if i % 2 == 0 else "white",
                edgecolor="black",
                linewidth=0.6,
            )
        )
    for frac in (0.0, 0.5, 1.0):
        ax.text(frac * bar_share, 0.3, f"{bar_m * frac:g}", ha="center", fontsize=6 * k)
    ax.text(bar_share + 0.02, 0.45, "m", fontsize=6 * k)
    ax.text(0, 0.95, f"比例尺 Scale 1:{scale}", va="top", fontsize=9 * k)


def nice_length(max_m: float) -> float:
    exponent = 10.0 ** math.floor(math.log10(max_m))
    for step in (5.0, 2.5, 2.0, 1.0):
        if step * exponent <= max_m:
            return step * exponent
    return exponent  # pragma: no cover - the loop always returns


def draw_title_block(fig: Figure, layout: SheetLayout, info: SheetInfo, crs: Any) -> None:
    ax = panel(fig, layout.paper, "title")
    k = font_k(layout.paper)
    zh, en = style.permit_label(info.permit_type)
    crs_obj = pyproj.CRS.from_user_input(crs)
    epsg = crs_obj.to_epsg()
    crs_text = f"EPSG:{epsg} {crs_obj.name}" if epsg else crs_obj.name
    n, m = info.sheet, info.sheets
    rows = [
        ("项目 Project", info.project),
        ("申请编号 Application", info.application_no),
        ("许可类型 Permit", f"{zh} / {en}"),
        ("申请人 Applicant", info.applicant),
        ("日期 Date", info.issued_on.isoformat()),
        ("图幅 Sheet", f"第 {n} 张 共 {m} 张 (sheet {n} of {m})"),
        ("比例 Scale", f"1:{layout.scale}  {layout.paper} 横向 landscape"),
        ("坐标系 CRS", crs_text),
        ("数据 Data", info.attribution),
        ("制图 Drawn by", info.drawn_by),
    ]
    n = len(rows)
    ax.add_patch(Rectangle((0, 0), 1, 1, fill=False, linewidth=1.0))
    for i, (key, value) in enumerate(rows):
        y = 1 - (i + 1) / n
        ax.plot([0, 1], [y, y], color="black", linewidth=0.4)
        ax.text(0.02, y + 0.5 / n, key, va="center", fontsize=6.5 * k)
        shown = fit_text(value, 44)
        ax.text(
            0.37,
            y + 0.5 / n,
            shown,
            va="center",
            fontsize=(6.5 if "\n" not in shown else 5.2) * k,
            wrap=False,
        )
    ax.plot([0.35, 0.35], [0, 1], color="black", linewidth=0.4)


def fit_text(text: str, width_chars: int) -> str:
    """The text on one line, or two when longer (CJK characters count double), then cut."""
    text = str(text)
    lines, line, used = [], "", 0.0
    for ch in text:
        w = 2.0 if ord(ch) > 0x2E7F else 1.0
        if used + w > width_chars:
            lines.append(line)
            line, used = "", 0.0
        line += ch
        used += w
    lines.append(line)
    if len(lines) <= 2:
        return "\n".join(lines)
    return lines[0] + "\n" + lines[1][:-1] + "…"


def draw_section_panel(fig: Figure, paper: str, draw_section: Callable[[Axes], Any] | None) -> None:
    k = font_k(paper)
    if draw_section is None:
        ax = panel(fig, paper, "section")
        ax.add_patch(Rectangle((0, 0), 1, 1, fill=False, linewidth=0.6, linestyle="--"))
        ax.text(
            0.5,
            0.5,
            "断面图未提供 — 需人工复核\nno cross-section supplied: needs manual review",
            ha="center",
            va="center",
            fontsize=8 * k,
        )
        return
    ax = fig.add_axes(frame_fraction(paper, "section"))
    draw_section(ax)
    ax.set_title("典型横断面 Typical cross-section", fontsize=8 * k, loc="left")


def draw_quantities(fig: Figure, paper: str, rows: Sequence[tuple[str, str, str]]) -> None:
    ax = panel(fig, paper, "quantities")
    k = font_k(paper)
    ax.text(0, 1.0, "工程量 Quantities", va="bottom", fontsize=8 * k)
    table = ax.table(
        cellText=[[a, b, c] for a, b, c in rows],
        colLabels=["项目 Item", "数量 Value", "单位 Unit"],
        colWidths=[0.6, 0.25, 0.15],
        loc="upper left",
        cellLoc="left",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(6 * k)
    table.scale(1, 1.1)


def plan_facts(frames: TrenchFrames) -> list[tuple[str, str, str]]:
    """Lengths read off the plan itself, for a sheet drawn without the quantities."""
    edges = frames.edges
    rows = [
        ("沟槽总长 Trench length (plan)", f"{edges['length_m'].sum():.1f}", "m"),
        (
            "共用段长 Shared length (plan)",
            f"{edges.loc[edges['n_utilities'] >= 2, 'length_m'].sum():.1f}",
            "m",
        ),
        ("路段数 Segments", str(len(edges)), "-"),
    ]
    rows.extend(
        (f"{style.label(r.utility)} 路由 route", f"{r.length_m:.1f}", "m")
        for r in frames.routes.itertuples()
    )
    return rows
