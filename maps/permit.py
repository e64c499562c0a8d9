"""Draw printable permit sheets: the route at a true standard scale with its title block."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import matplotlib as mpl
import numpy as np
import pyproj
import shapely
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from maps import sheet_furniture as furniture
from maps import style
from maps.frames import MapContext
from maps.frames import TrenchFrames
from maps.frames import normalise_utilities
from maps.frames import trench_frames
from maps.sheet_layout import MM_PER_INCH
from maps.sheet_layout import PAPER_MM
from maps.sheet_layout import PAPERS
from maps.sheet_layout import SheetInfo
from maps.sheet_layout import SheetLayout
from maps.sheet_layout import frame_fraction
from maps.sheet_layout import frame_mm
from maps.sheet_layout import map_units_per_paper_mm

__all__ = [
    "PAPER_MM",
    "STANDARD_SCALES",
    "FontMissingError",
    "SheetInfo",
    "SheetScaleError",
    "choose_layout",
    "map_units_per_paper_mm",
    "render_permit_map",
    "render_permit_packet",
    "render_permit_sheet",
    "save_permit_packet",
    "save_permit_sheet",
]

logger = logging.getLogger(__name__)

CJK_FONT_PATH = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
CJK_FONT_FAMILY = "Noto Sans CJK SC"
STANDARD_SCALES = (500, 1000, 2000)
# the grid interval (metres) at each scale: a line every 4-5 cm on paper
GRID_M = {500: 20.0, 1000: 50.0, 2000: 100.0}
MARGIN_SHARE = 0.06  # room left around the route inside the map frame, per side

_PRINT_RAMP_MIN_MM = 1.2


class FontMissingError(RuntimeError):
    """The CJK font for the sheets is not installed."""


class SheetScaleError(ValueError):
    """A route does not fit any standard scale on the paper sizes allowed."""


def choose_layout(
    bounds: Sequence[float],
    *,
    frame_key: str = "map",
    papers: Sequence[str] = PAPERS,
    scales: Sequence[int] = STANDARD_SCALES,
) -> SheetLayout:
    """Return the largest standard scale (smallest paper first) whose frame holds ``bounds``.

    Parameters
    ----------
    bounds
        ``(minx, miny, maxx, maxy)`` of the route in a metric CRS.
    frame_key
        Which map frame of the sheet layout (``"map"`` or ``"map_excavation"``).

    Raises
    ------
    SheetScaleError
        If the route does not fit at any of ``scales`` on any of ``papers``; the message
        gives the extent and the largest frame tried.
    """
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        msg = "the route has no extent (empty geometry); nothing to draw"
        raise SheetScaleError(msg)
    width_m = max(maxx - minx, 1.0)
    height_m = max(maxy - miny, 1.0)
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    for scale in sorted(scales):
        for paper in papers:
            _, _, w_mm, h_mm = frame_mm(paper, frame_key)
            usable = 1.0 - 2 * MARGIN_SHARE
            per_mm = map_units_per_paper_mm(scale)
            if width_m <= w_mm * usable * per_mm and height_m <= h_mm * usable * per_mm:
                half_w, half_h = w_mm * per_mm / 2, h_mm * per_mm / 2
                return SheetLayout(
                    paper=paper,
                    scale=scale,
                    frame_mm=(w_mm, h_mm),
                    window=(cx - half_w, cy - half_h, cx + half_w, cy + half_h),
                )
    _, _, w_mm, h_mm = frame_mm(papers[-1], frame_key)
    per_mm = map_units_per_paper_mm(max(scales))
    msg = (
        f"the route spans {width_m:.0f} m x {height_m:.0f} m, more than the "
        f"{w_mm * per_mm:.0f} m x {h_mm * per_mm:.0f} m a {papers[-1]} frame holds at "
        f"1:{max(scales)}; split the route into map sheets (render_permit_packet does)"
    )
    raise SheetScaleError(msg)


def render_permit_map(
    plan: Any,
    *,
    ax: Axes | None = None,
    context: MapContext | None = None,
    permit_type: str = "road_excavation",
    layout: SheetLayout | None = None,
) -> Figure:
    """Draw a plan's route at a true standard scale with its coordinate grid and CRS.

    Parameters
    ----------
    plan
        A ``TrenchPlan``, ``TrenchFrames`` or GeoDataFrame of trench edges.
    ax
        Axes to draw into. Its physical size on the figure sets the window, so the map
        is at ``1:layout.scale`` exactly. A new A3/A4 figure is made if none.
    context
        Roads, existing lines, trees, poles, protected roads around the route.
    permit_type
        Which permit the map is for: it decides what is emphasised.
    layout
        The scale and window; chosen from the route's extent if none.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding ``ax``.
    """
    frames = trench_frames(plan)
    _require_metric(frames)
    if layout is None:
        layout = choose_layout(frames.edges.total_bounds)
    if ax is None:
        ax = _new_figure(layout.paper).add_axes(frame_fraction(layout.paper, "map"))
    with _sheet_rc():
        _draw_map(ax, frames, context or MapContext(), permit_type, layout)
    return _figure_of(ax)


def _figure_of(ax: Axes) -> Figure:
    fig = ax.get_figure(root=True)
    if not isinstance(fig, Figure):  # pragma: no cover - an axes always has a figure here
        msg = "the axes is not on a figure"
        raise TypeError(msg)
    return fig


def render_permit_sheet(
    plan: Any,
    info: SheetInfo,
    *,
    context: MapContext | None = None,
    layout: SheetLayout | None = None,
    draw_section: Callable[[Axes], Any] | None = None,
    quantities: Sequence[tuple[str, str, str]] | None = None,
) -> Figure:
    """Return one permit sheet: map, title block, legend, north arrow, scale bar.

    Parameters
    ----------
    plan
        A ``TrenchPlan``, ``TrenchFrames`` or GeoDataFrame of trench edges.
    info
        Title block contents; ``info.permit_type`` decides the sheet's content.
    layout
        Paper, scale and window; chosen to fit the route if none.
    draw_section
        On the excavation sheet: draws the typical cross-section into the axes given.
    quantities
        On the excavation sheet: rows ``(item, value, unit)``; without them the sheet
        lists the plan's own lengths, labelled as such.

    Raises
    ------
    SheetScaleError
        If no layout is given and the route fits no standard scale.
    FontMissingError
        If fonts-noto-cjk is not installed.
    """
    frames = trench_frames(plan)
    _require_metric(frames)
    excavation = info.permit_type == "road_excavation"
    frame_key = "map_excavation" if excavation else "map"
    if layout is None:
        layout = choose_layout(frames.edges.total_bounds, frame_key=frame_key)
    context = context or MapContext()
    with _sheet_rc():
        fig = _new_figure(layout.paper)
        ax = fig.add_axes(frame_fraction(layout.paper, frame_key))
        _draw_map(ax, frames, context, info.permit_type, layout)
        furniture.draw_header(
            fig, layout.paper, info, furniture.permit_count(info.permit_type, context)
        )
        furniture.draw_legend(fig, layout.paper, frames, context, info.permit_type)
        furniture.draw_north_arrow(fig, layout.paper, frames.crs, layout.window)
        furniture.draw_scale_bar(fig, layout.paper, layout.scale)
        furniture.draw_title_block(fig, layout, info, frames.crs)
        if excavation:
            furniture.draw_section_panel(fig, layout.paper, draw_section)
            furniture.draw_quantities(fig, layout.paper, quantities or furniture.plan_facts(frames))
    return fig


def render_permit_packet(
    plan: Any,
    infos: Sequence[SheetInfo],
    *,
    context: MapContext | None = None,
    draw_section: Callable[[Axes], Any] | None = None,
    quantities: Sequence[tuple[str, str, str]] | None = None,
) -> list[Figure]:
    """Return every sheet for the permits in ``infos``, splitting long routes into sheets.

    A route too large for one frame at 1:2000 on A3 is cut into a grid of frames at
    1:2000 (only frames the route passes through are kept); sheet numbers count all
    the sheets of the packet.
    """
    frames = trench_frames(plan)
    _require_metric(frames)
    planned: list[tuple[SheetInfo, SheetLayout]] = []
    for info in infos:
        key = "map_excavation" if info.permit_type == "road_excavation" else "map"
        planned.extend((info, layout) for layout in _layouts(frames, key))
    total = len(planned)
    figs = []
    for n, (info, layout) in enumerate(planned, start=1):
        numbered = replace(info, sheet=n, sheets=total)
        figs.append(
            render_permit_sheet(
                frames,
                numbered,
                context=context,
                layout=layout,
                draw_section=draw_section,
                quantities=quantities,
            )
        )
    logger.info("permit packet: %d sheets for %d permits", total, len(infos))
    return figs


def save_permit_sheet(fig: Figure, path: str | Path, *, title: str = "") -> Path:
    """Write one sheet as PDF (CJK font embedded as TrueType, fonttype 42)."""
    path = Path(path)
    with _sheet_rc():
        fig.savefig(path, format="pdf", metadata=_pdf_metadata(title))
    return path


def save_permit_packet(figs: Sequence[Figure], path: str | Path, *, title: str = "") -> Path:
    """Write all sheets into one PDF, one page per sheet."""
    if not figs:
        msg = "a permit packet needs at least one sheet"
        raise ValueError(msg)
    path = Path(path)
    with (
        _sheet_rc(),
        PdfPages(path, metadata=_pdf_metadata(title)) as pdf,
    ):
        for fig in figs:
            pdf.savefig(fig)
    return path


def _pdf_metadata(title: str) -> dict[str, Any]:
    # no creation date: the same sheets give the same bytes (a route version hashes them)
    return {"Title": title, "Creator": "cotrench", "CreationDate": None}


# --- layout helpers ------------------------------------------------------------------


def _new_figure(paper: str) -> Figure:
    pw, ph = PAPER_MM[paper]
    return Figure(figsize=(pw / MM_PER_INCH, ph / MM_PER_INCH))


def _layouts(frames: TrenchFrames, key: str) -> list[SheetLayout]:
    try:
        return [choose_layout(frames.edges.total_bounds, frame_key=key)]
    except SheetScaleError:
        pass
    # tile the route at the smallest standard scale on the largest paper
    paper, scale = PAPERS[-1], max(STANDARD_SCALES)
    _, _, w_mm, h_mm = frame_mm(paper, key)
    per_mm = map_units_per_paper_mm(scale)
    w_m, h_m = w_mm * per_mm, h_mm * per_mm
    step_x, step_y = w_m * (1 - 2 * MARGIN_SHARE), h_m * (1 - 2 * MARGIN_SHARE)
    minx, miny, maxx, maxy = frames.edges.total_bounds
    route = shapely.union_all(frames.edges.geometry.to_numpy())
    out = []
    for j in range(math.ceil((maxy - miny) / step_y)):
        for i in range(math.ceil((maxx - minx) / step_x)):
            x0, y0 = minx + i * step_x, miny + j * step_y
            if not route.intersects(shapely.box(x0, y0, x0 + step_x, y0 + step_y)):
                continue
            cx, cy = x0 + step_x / 2, y0 + step_y / 2
            window = (cx - w_m / 2, cy - h_m / 2, cx + w_m / 2, cy + h_m / 2)
            out.append(SheetLayout(paper, scale, (w_mm, h_mm), window))
    return out


@contextlib.contextmanager
def _sheet_rc() -> Iterator[None]:
    _ensure_font()
    with mpl.rc_context(
        {
            "pdf.fonttype": 42,
            "ps.fonttype": 42,
            "font.family": "sans-serif",
            "font.sans-serif": [CJK_FONT_FAMILY, "DejaVu Sans"],
            "axes.unicode_minus": False,
        }
    ):
        yield


_font_loaded = False


def _ensure_font() -> None:
    global _font_loaded  # noqa: PLW0603 - register the font once per process
    if _font_loaded:
        return
    if not CJK_FONT_PATH.exists():
        msg = f"the CJK font {CJK_FONT_PATH} is missing; install Debian's fonts-noto-cjk"
        raise FontMissingError(msg)
    font_manager.fontManager.addfont(str(CJK_FONT_PATH))
    _font_loaded = True


def _require_metric(frames: TrenchFrames) -> None:
    crs = pyproj.CRS.from_user_input(frames.crs)
    if not crs.is_projected:
        msg = f"permit sheets need a projected metric CRS, the plan is in {crs.to_string()}"
        raise ValueError(msg)


# --- the map -------------------------------------------------------------------------


def _draw_map(
    ax: Axes,
    frames: TrenchFrames,
    context: MapContext,
    permit_type: str,
    layout: SheetLayout,
) -> None:
    minx, miny, maxx, maxy = _true_scale_window(ax, layout)
    per_mm = map_units_per_paper_mm(layout.scale)
    lw = 72.0 / MM_PER_INCH * style.PRINT_WIDTH_MM_PER_PX  # points per CSS px on paper
    clip = shapely.box(minx, miny, maxx, maxy)
    if context.protected is not None and len(context.protected):
        s = style.CONTEXT_STYLES["protected"]
        _plot(
            _clipped(context.protected, clip),
            ax,
            facecolor=s["fill"],
            edgecolor=s["color"],
            linewidth=style.LINE_WIDTHS_PX["protected"] * lw,
            linestyle="--",
            alpha=0.6,
            zorder=1,
        )
    if context.roads is not None and len(context.roads):
        _plot(
            _clipped(context.roads, clip),
            ax,
            color=style.CONTEXT_STYLES["road"]["color"],
            linewidth=style.LINE_WIDTHS_PX["road"] * lw,
            zorder=2,
        )
        _label_roads(ax, _clipped(context.roads, clip), layout)
    if context.existing is not None and len(context.existing):
        existing = _clipped(context.existing, clip)
        for utility, part in existing.groupby("utility"):
            _plot(
                part,
                ax,
                color=style.UTILITY_COLOURS.get(str(utility), "#555555"),
                linewidth=style.LINE_WIDTHS_PX["existing"] * lw,
                linestyle=(0, (4, 3)),
                zorder=3,
            )
    edges = frames.edges
    for n, part in edges.groupby("n_utilities"):
        _plot(
            part,
            ax,
            color=style.trench_colour(int(n)),
            linewidth=max(style.trench_width_px(int(n)) * lw * 1.6, _PRINT_RAMP_MIN_MM),
            alpha=0.55,
            capstyle="butt",
            zorder=4,
        )
    # each utility's line inside the trench band, side by side 0.7 mm apart on paper
    utilities = [u for u in style.UTILITIES if u in set(frames.routes["utility"])]
    offset_m = 0.7 * per_mm
    for k, utility in enumerate(utilities):
        shift = (k - (len(utilities) - 1) / 2) * offset_m
        geoms = [
            _offset(g, shift)
            for g, us in zip(edges.geometry, edges["utilities"], strict=True)
            if utility in normalise_utilities(us)
        ]
        _plot(
            gpd.GeoSeries(geoms, crs=edges.crs),
            ax,
            color=style.utility_colour(utility),
            linewidth=style.LINE_WIDTHS_PX["proposed"] * lw,
            zorder=5,
        )
    if context.poles is not None and len(context.poles) and permit_type == "pipeline_attachment":
        _plot(
            _clipped(context.poles, clip),
            ax,
            marker="s",
            markersize=14,
            color=style.CONTEXT_STYLES["pole"]["color"],
            zorder=6,
        )
    if context.trees is not None and len(context.trees):
        trees = _clipped(context.trees, clip)
        emphasise = permit_type == "tree_felling"
        for key, part in trees.groupby(_tree_keys(trees)):
            s = style.CONTEXT_STYLES[str(key)]
            marked = key != "tree"
            _plot(
                part,
                ax,
                marker="o",
                markersize=(30 if emphasise and marked else 12),
                facecolor=s["fill"],
                edgecolor=s["color"],
                linewidth=0.6,
                zorder=7,
            )
            if emphasise and marked and "source_id" in part.columns:
                for geom, sid in zip(part.geometry, part["source_id"], strict=True):
                    ax.annotate(
                        str(sid),
                        (geom.x, geom.y),
                        xytext=(3, 3),
                        textcoords="offset points",
                        fontsize=5.5,
                        color=s["color"],
                        zorder=8,
                    )
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("")
    ax.set_ylabel("")
    _draw_grid(ax, layout)


def _tree_keys(trees: gpd.GeoDataFrame) -> np.ndarray:
    """Style key per tree: by its finding (fell / protect), else affected or not."""
    if "action" in trees.columns:
        actions = trees["action"].fillna("").astype(str)
        return np.asarray([style.TREE_ACTION_STYLE.get(a, "tree") for a in actions])
    if "affected" in trees.columns:
        affected = trees["affected"].fillna(False).astype(bool).to_numpy()
    else:
        affected = np.ones(len(trees), dtype=bool)
    return np.where(affected, "tree_affected", "tree")


def _true_scale_window(ax: Axes, layout: SheetLayout) -> tuple[float, float, float, float]:
    """Return the window that puts ``layout.scale`` exactly on the axes' paper size."""
    fw_in, fh_in = _figure_of(ax).get_size_inches()
    pos = ax.get_position()
    w_mm, h_mm = pos.width * fw_in * MM_PER_INCH, pos.height * fh_in * MM_PER_INCH
    per_mm = map_units_per_paper_mm(layout.scale)
    minx, miny, maxx, maxy = layout.window
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    return (
        cx - w_mm * per_mm / 2,
        cy - h_mm * per_mm / 2,
        cx + w_mm * per_mm / 2,
        cy + h_mm * per_mm / 2,
    )


def _draw_grid(ax: Axes, layout: SheetLayout) -> None:
    step = GRID_M.get(layout.scale, 50.0 * map_units_per_paper_mm(layout.scale))
    minx, maxx = ax.get_xlim()
    miny, maxy = ax.get_ylim()
    xs = np.arange(math.ceil(minx / step) * step, maxx, step)
    ys = np.arange(math.ceil(miny / step) * step, maxy, step)
    ax.set_xticks(xs, [f"{x:.0f}" for x in xs], fontsize=5.5)
    ax.set_yticks(ys, [f"{y:.0f}" for y in ys], fontsize=5.5, rotation=90, va="center")
    ax.tick_params(direction="in", length=2, pad=1.5, top=True, right=True)
    ax.grid(True, color="#9e9e9e", linewidth=0.25, linestyle="-", zorder=0)
    for spine in ax.spines.values():
        spine.set_linewidth(0.8)


def _label_roads(ax: Axes, roads: gpd.GeoDataFrame, layout: SheetLayout) -> None:
    if "name" not in roads.columns:
        return
    seen: set[str] = set()
    min_len = 30 * map_units_per_paper_mm(layout.scale)  # 3 cm on paper
    for geom, name in zip(roads.geometry, roads["name"], strict=True):
        if not isinstance(name, str) or not name or name in seen or geom.length < min_len:
            continue
        seen.add(name)
        p = geom.interpolate(0.5, normalized=True)
        ax.annotate(name, (p.x, p.y), fontsize=6, color="#616161", ha="center", zorder=8)


def _clipped(gdf: gpd.GeoDataFrame, clip: shapely.Polygon) -> gpd.GeoDataFrame:
    return gdf[gdf.intersects(clip)]


def _plot(gdf: gpd.GeoDataFrame | gpd.GeoSeries, ax: Axes, **kwargs: Any) -> None:
    # geopandas warns on an empty frame; a window with nothing of a layer is normal
    if len(gdf):
        gdf.plot(ax=ax, **kwargs)


def _offset(geom: Any, distance_m: float) -> Any:
    if abs(distance_m) < 1e-9:
        return geom
    return shapely.offset_curve(geom, distance_m)


# --- the sheet furniture -------------------------------------------------------------
