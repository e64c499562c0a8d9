"""Build folium review maps of layers, applications and trench plans, served without a CDN."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

import folium
import geopandas as gpd
import pandas as pd
from branca.element import MacroElement
from jinja2 import Template

from maps import style
from maps.frames import MapContext
from maps.frames import normalise_utilities
from maps.frames import trench_frames

__all__ = [
    "LAYER_KINDS",
    "MapTooLargeError",
    "build_application_map",
    "build_layer_map",
    "build_trench_map",
    "local_assets",
    "new_review_map",
]

logger = logging.getLogger(__name__)

# the only scripts and stylesheets a review map loads, all served by the app (maps/static)
VENDOR_JS = (
    ("leaflet", "vendor/leaflet/1.9.4/leaflet.js"),
    ("jquery", "vendor/jquery/3.7.1/jquery.min.js"),
)
VENDOR_CSS = (
    ("leaflet_css", "vendor/leaflet/1.9.4/leaflet.css"),
    ("cotrench_maps_css", "maps.css"),
)
DISPLAY_CRS = "EPSG:4326"
COORD_DECIMALS = 7  # ~1 cm at the equator; keeps the embedded GeoJSON small
LAYER_KINDS = (
    "roads",
    "existing",
    "proposed",
    "trees",
    "poles",
    "protected",
    "groups",
    "warnings",
)


class MapTooLargeError(ValueError):
    """A layer has more features than one folium page should carry; use vector tiles."""


def local_assets(m: folium.Map, *, static_url: str = "/static") -> folium.Map:
    """Point the map's Leaflet scripts and styles at the app's own ``static_url``.

    folium links CDN copies by default; a city network may have no internet, so every
    asset comes from ``maps/static/vendor`` instead (see its README for versions).
    """
    base = static_url.rstrip("/")
    m.default_js = [(name, f"{base}/{path}") for name, path in VENDOR_JS]
    m.default_css = [(name, f"{base}/{path}") for name, path in VENDOR_CSS]
    return m


def new_review_map(
    bounds: gpd.GeoDataFrame | None = None,
    *,
    static_url: str = "/static",
    tile_url: str | None = None,
    tile_attribution: str = "",
    attribution: str = style.ATTRIBUTION_OSM,
) -> folium.Map:
    """Return an empty review map: canvas renderer, local assets, optional local base tiles.

    Parameters
    ----------
    bounds
        Frame whose total bounds the map fits; none shows the whole world.
    static_url
        Where the app serves ``maps/static``.
    tile_url
        The city's own tile server (``{z}/{x}/{y}`` template); none means no base layer.
    tile_attribution
        Attribution for ``tile_url``.
    attribution
        Attribution of the drawn data, shown in the map corner.
    """
    m = folium.Map(tiles=None, prefer_canvas=True, zoom_start=2)
    _MetricScale().add_to(m)
    local_assets(m, static_url=static_url)
    if tile_url:
        folium.TileLayer(
            tiles=tile_url,
            attr=tile_attribution or "local tiles",
            name=style.label("base"),
            max_zoom=22,
            max_native_zoom=19,
        ).add_to(m)
    _root_html(m).add_child(
        folium.Element(f'<div class="cotrench-attribution">{html.escape(attribution)}</div>')
    )
    if bounds is not None and len(bounds):
        _fit(m, bounds)
    return m


def build_layer_map(
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    m: folium.Map | None = None,
    static_url: str = "/static",
    tile_url: str | None = None,
    tile_attribution: str = "",
    attribution: str = style.ATTRIBUTION_OSM,
    max_features: int | None = None,
) -> folium.Map:
    """Return a map of stored layers by kind (``roads``, ``existing``, ``proposed``, ...).

    Parameters
    ----------
    layers
        Frames by kind; each needs a CRS. ``existing`` and ``proposed`` need ``utility``.
    m
        Map to add to; a new one is made if none.
    max_features
        Refuse more features than this in one page (the vector tiles are for those).

    Raises
    ------
    MapTooLargeError
        If the layers hold more than ``max_features`` features.
    ValueError
        If a kind is unknown, or a frame has no CRS or lacks a needed column.
    """
    unknown = sorted(set(layers) - set(LAYER_KINDS))
    if unknown:
        msg = f"unknown layer kind(s) {unknown}; expected some of {list(LAYER_KINDS)}"
        raise ValueError(msg)
    _check_size(layers.values(), max_features)
    frames = {k: _to_display(v, k) for k, v in layers.items() if v is not None and len(v)}
    if m is None:
        m = new_review_map(
            _union_bounds(frames.values()),
            static_url=static_url,
            tile_url=tile_url,
            tile_attribution=tile_attribution,
            attribution=attribution,
        )
    legend = _legend(m)
    for kind in LAYER_KINDS:
        if kind in frames:
            _DRAW[kind](m, frames[kind], legend)
    _finish(m)
    return m


def build_application_map(
    proposals: gpd.GeoDataFrame,
    *,
    m: folium.Map | None = None,
    context: MapContext | None = None,
    static_url: str = "/static",
    tile_url: str | None = None,
    tile_attribution: str = "",
    attribution: str = style.ATTRIBUTION_OSM,
    max_features: int | None = None,
) -> folium.Map:
    """Return the review map of an application: each utility's proposed line in context.

    Parameters
    ----------
    proposals
        Proposed lines with ``utility`` (and optionally ``project``, ``applicant``,
        ``planned_start``, ``planned_end``).
    context
        Roads, existing lines, trees, protected roads, co-location groups and warnings.

    Raises
    ------
    MapTooLargeError
        If everything drawn holds more than ``max_features`` features.
    """
    layers = dict((context or MapContext()).frames())
    layers["proposed"] = proposals
    if m is None and len(proposals):
        # frame the application, not the whole of every road it touches
        m = new_review_map(
            _to_display(proposals, "proposed"),
            static_url=static_url,
            tile_url=tile_url,
            tile_attribution=tile_attribution,
            attribution=attribution,
        )
    return build_layer_map(
        layers,
        m=m,
        static_url=static_url,
        tile_url=tile_url,
        tile_attribution=tile_attribution,
        attribution=attribution,
        max_features=max_features,
    )


def build_trench_map(
    plan: Any,
    *,
    m: folium.Map | None = None,
    context: MapContext | None = None,
    section_url: str | None = None,
    static_url: str = "/static",
    tile_url: str | None = None,
    tile_attribution: str = "",
    attribution: str = style.ATTRIBUTION_OSM,
    max_features: int | None = None,
) -> folium.Map:
    """Return the review map of a trench plan, the shared trench coloured by its sharers.

    Parameters
    ----------
    plan
        A ``TrenchPlan``, a ``TrenchFrames`` or a GeoDataFrame of trench edges with
        ``utilities`` (see ``maps.frames.trench_frames``).
    m
        Map to add to; a new one is made if none.
    context
        Roads, existing lines, trees, protected roads, co-location groups and warnings.
    section_url
        Template of the link to an edge's cross-section, with ``{edge}`` (and
        ``{plan_id}``) placeholders; none leaves the link out of the popups.

    Returns
    -------
    folium.Map
        With one layer per utility route, the shared trench, the context layers, a
        layer control and a legend.
    """
    frames = trench_frames(plan)
    layers = dict((context or MapContext()).frames())
    _check_size([*layers.values(), frames.edges, frames.routes], max_features)
    shown = {k: _to_display(v, k) for k, v in layers.items()}
    edges = _to_display(frames.edges, "trench")
    routes = _to_display(frames.routes, "proposed")
    if m is None:
        m = new_review_map(
            _union_bounds([edges]),
            static_url=static_url,
            tile_url=tile_url,
            tile_attribution=tile_attribution,
            attribution=attribution,
        )
    legend = _legend(m)
    for kind in ("roads", "protected", "existing"):
        if kind in shown:
            _DRAW[kind](m, shown[kind], legend)
    _draw_routes(m, routes, legend)
    _draw_trench(m, edges, legend, section_url=section_url, plan_id=frames.plan_id)
    for kind in ("groups", "trees", "warnings"):
        if kind in shown:
            _DRAW[kind](m, shown[kind], legend)
    _finish(m)
    return m


# --- drawing -------------------------------------------------------------------------


class _MetricScale(MacroElement):
    """Leaflet's scale bar in metres only (folium's ``control_scale`` adds feet and miles)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        L.control.scale({imperial: false, metric: true, maxWidth: 150})
            .addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "MetricScale"


class _Legend(MacroElement):
    """A legend box drawn once per map; builders append entries."""

    _template = Template(
        """
        {% macro html(this, kwargs) %}
        <div class="cotrench-legend" id="{{ this.get_name() }}">
          <div class="cotrench-legend-title">图例 Legend</div>
          {% for swatch, text in this.entries %}
          <div class="cotrench-legend-row">{{ swatch }}<span>{{ text }}</span></div>
          {% endfor %}
        </div>
        {% endmacro %}
        """
    )

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "CotrenchLegend"
        self.entries: list[tuple[str, str]] = []
        self._keys: set[str] = set()

    def add(self, key: str, text: str, *, line: str | None = None, dot: str | None = None) -> None:
        if key in self._keys:
            return
        self._keys.add(key)
        if dot is not None:
            swatch = f'<i class="cotrench-dot" style="background:{dot}"></i>'
        else:
            swatch = f'<i class="cotrench-line" style="background:{line}"></i>'
        self.entries.append((swatch, html.escape(text)))

    def render(self, **kwargs: Any) -> None:  # type: ignore[override]
        macro = self._template.module.__dict__["html"]
        _root_html(self).add_child(folium.Element(macro(self, kwargs)), name=self.get_name())


def _legend(m: folium.Map) -> _Legend:
    for child in m._children.values():
        if isinstance(child, _Legend):
            return child
    legend = _Legend()
    m.add_child(legend)
    return legend


def _finish(m: folium.Map) -> None:
    # one layer control per map, added last so it lists every layer
    for key, child in list(m._children.items()):
        if isinstance(child, folium.LayerControl):
            del m._children[key]
    folium.LayerControl(collapsed=False).add_to(m)


def _group(m: folium.Map, key: str, *, suffix: str = "", show: bool = True) -> folium.FeatureGroup:
    name = style.label(key) + (f" — {suffix}" if suffix else "")
    group = folium.FeatureGroup(name=name, show=show)
    group.add_to(m)
    return group


def _root_html(element: Any) -> Any:
    # the root of a folium map is a branca Figure, whose ``html`` holds the page body
    return element.get_root().html


def _line_style(colour: str, width: float) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def line_style(feature: dict[str, Any]) -> dict[str, Any]:
        return {"color": colour, "weight": width, "opacity": 0.95}

    return line_style


def _geojson(
    gdf: gpd.GeoDataFrame,
    *,
    kind: str,
    style_function: Callable[[dict[str, Any]], dict[str, Any]],
    fields: list[tuple[str, str]],
    popup: list[tuple[str, str]] | None = None,
    marker: folium.CircleMarker | None = None,
    styled_by: tuple[str, ...] = (),
) -> folium.GeoJson:
    keep = [c for c, _ in fields] + [c for c, _ in popup or [] if c not in dict(fields)]
    # the style function reads these properties, shown or not
    keep += [c for c in styled_by if c not in keep]
    data = gdf[[c for c in keep if c in gdf.columns]].copy()
    data["kind"] = kind
    data = gpd.GeoDataFrame(data, geometry=gdf.geometry.to_numpy(), crs=gdf.crs)
    present = [(c, a) for c, a in fields if c in data.columns]
    tooltip = folium.GeoJsonTooltip(
        fields=[c for c, _ in present], aliases=[a for _, a in present], sticky=True
    )
    popup_el = None
    if popup:
        shown = [(c, a) for c, a in popup if c in data.columns]
        popup_el = folium.GeoJsonPopup(fields=[c for c, _ in shown], aliases=[a for _, a in shown])
    return folium.GeoJson(
        data.to_json(drop_id=True),
        name=kind,
        style_function=style_function,
        tooltip=tooltip,
        popup=popup_el,
        marker=marker,
        smooth_factor=1.0,
    )


def _draw_roads(m: folium.Map, gdf: gpd.GeoDataFrame, legend: _Legend) -> None:
    colour = style.CONTEXT_STYLES["road"]["color"]
    width = style.LINE_WIDTHS_PX["road"]
    fg = _group(m, "roads")
    _geojson(
        gdf,
        kind="road",
        style_function=lambda f: {"color": colour, "weight": width, "opacity": 0.9},
        fields=[("name", "道路 Road"), ("road_class", "等级 Class"), ("width_m", "宽 Width m")],
    ).add_to(fg)
    legend.add("roads", style.label("roads"), line=colour)


def _draw_existing(m: folium.Map, gdf: gpd.GeoDataFrame, legend: _Legend) -> None:
    dash = style.CONTEXT_STYLES["existing"]["dash"]
    width = style.LINE_WIDTHS_PX["existing"]
    fg = _group(m, "existing")

    def line_style(feature: dict[str, Any]) -> dict[str, Any]:
        colour = style.UTILITY_COLOURS.get(feature["properties"]["utility"], "#555555")
        return {"color": colour, "weight": width, "dashArray": dash, "opacity": 0.8}

    _geojson(
        gdf,
        kind="existing",
        style_function=line_style,
        styled_by=("utility",),
        fields=[
            ("utility_label", "管线 Utility"),
            ("diameter_mm", "管径 DN mm"),
            ("depth_m", "埋深 Depth m"),
            ("owner", "权属 Owner"),
        ],
    ).add_to(fg)
    for utility in _ordered_utilities(gdf["utility"]):
        text = f"现状 {style.label(utility)} existing (虚线 dashed)"
        legend.add(f"e:{utility}", text, line=style.utility_colour(utility))


def _draw_proposed(m: folium.Map, gdf: gpd.GeoDataFrame, legend: _Legend) -> None:
    width = style.LINE_WIDTHS_PX["proposed"]
    for utility in _ordered_utilities(gdf["utility"]):
        part = gdf[gdf["utility"] == utility]
        colour = style.utility_colour(utility)
        fg = folium.FeatureGroup(name=f"{style.label('proposed')} — {style.label(utility)}")
        fg.add_to(m)
        _geojson(
            part,
            kind="proposed",
            style_function=_line_style(colour, width),
            fields=[
                ("utility_label", "管线 Utility"),
                ("project", "项目 Project"),
                ("applicant", "申请人 Applicant"),
                ("window", "工期 Window"),
                ("length_m", "长度 Length m"),
            ],
        ).add_to(fg)
        legend.add(f"u:{utility}", style.label(utility), line=colour)


def _draw_routes(m: folium.Map, gdf: gpd.GeoDataFrame, legend: _Legend) -> None:
    width = style.LINE_WIDTHS_PX["proposed"]
    for utility in _ordered_utilities(gdf["utility"]):
        part = gdf[gdf["utility"] == utility]
        colour = style.utility_colour(utility)
        fg = folium.FeatureGroup(name=f"路由 Route — {style.label(utility)}", show=False)
        fg.add_to(m)
        _geojson(
            part,
            kind="route",
            style_function=_line_style(colour, width),
            fields=[("utility_label", "管线 Utility"), ("length_m", "长度 Length m")],
        ).add_to(fg)
        legend.add(f"u:{utility}", style.label(utility), line=colour)


def _draw_trench(
    m: folium.Map,
    gdf: gpd.GeoDataFrame,
    legend: _Legend,
    *,
    section_url: str | None,
    plan_id: int | str | None,
) -> None:
    gdf = gdf.copy()
    if section_url:
        hrefs = (html.escape(section_url.format(edge=e, plan_id=plan_id)) for e in gdf["edge"])
        gdf["section"] = [f'<a href="{h}" target="_blank">断面 Section</a>' for h in hrefs]
    fg = _group(m, "trench")

    def trench_style(feature: dict[str, Any]) -> dict[str, Any]:
        n = int(feature["properties"]["n_utilities"])
        return {
            "color": style.trench_colour(n),
            "weight": style.trench_width_px(n),
            "opacity": 0.85,
            "lineCap": "butt",
        }

    fields = [
        ("edge", "路段 Segment"),
        ("utilities_label", "管线 Utilities"),
        ("n_utilities", "共用 Sharing"),
        ("length_m", "长度 Length m"),
    ]
    _geojson(
        gdf,
        kind="trench",
        style_function=trench_style,
        fields=fields,
        popup=[*fields, ("section", "断面 Section")],
    ).add_to(fg)
    for n in sorted(set(gdf["n_utilities"])):
        text = f"共同沟槽 Shared trench: {n} 种管线 utilities"
        legend.add(f"t:{n}", text, line=style.trench_colour(int(n)))


def _draw_groups(m: folium.Map, gdf: gpd.GeoDataFrame, legend: _Legend) -> None:
    colour = style.CONTEXT_STYLES["group"]["color"]
    width = style.LINE_WIDTHS_PX["group"]
    fg = _group(m, "groups")
    _geojson(
        gdf,
        kind="group",
        style_function=lambda f: {"color": colour, "weight": width, "opacity": 0.45},
        fields=[
            ("group", "组 Group"),
            ("utilities_label", "管线 Utilities"),
            ("projects", "项目 Projects"),
            ("length_m", "共用长度 Shared m"),
            ("window", "工期 Window"),
        ],
    ).add_to(fg)
    legend.add("groups", style.label("groups"), line=colour)


def _draw_protected(m: folium.Map, gdf: gpd.GeoDataFrame, legend: _Legend) -> None:
    s = style.CONTEXT_STYLES["protected"]
    width = style.LINE_WIDTHS_PX["protected"]
    fg = _group(m, "protected")
    _geojson(
        gdf,
        kind="protected",
        style_function=lambda f: {
            "color": s["color"],
            "weight": width,
            "dashArray": s["dash"],
            "fillColor": s["fill"],
            "fillOpacity": 0.35,
        },
        fields=[("name", "名称 Name"), ("area_kind", "类别 Kind"), ("until", "保护至 Until")],
    ).add_to(fg)
    legend.add("protected", style.label("protected"), line=s["color"])


def _draw_trees(m: folium.Map, gdf: gpd.GeoDataFrame, legend: _Legend) -> None:
    gdf = gdf.copy()
    if "affected" not in gdf.columns:
        gdf["affected"] = True
    gdf["affected"] = gdf["affected"].fillna(False).astype(bool)
    fg = _group(m, "trees")

    def tree_style(feature: dict[str, Any]) -> dict[str, Any]:
        props = feature["properties"]
        key = style.TREE_ACTION_STYLE.get(props.get("action") or "", "tree")
        if key == "tree" and props["affected"] and "action" not in props:
            key = "tree_affected"
        s = style.CONTEXT_STYLES[key]
        return {"color": s["color"], "fillColor": s["fill"], "fillOpacity": 0.9, "weight": 1}

    _geojson(
        gdf,
        kind="tree",
        style_function=tree_style,
        fields=[
            ("source_id", "编号 ID"),
            ("species", "树种 Species"),
            ("dbh_cm", "胸径 DBH cm"),
            ("action", "处理 Action"),
            ("affected", "受影响 Affected"),
        ],
        marker=folium.CircleMarker(radius=style.TREE_RADIUS_PX),
    ).add_to(fg)
    legend.add("trees", style.label("trees"), dot=style.CONTEXT_STYLES["tree_affected"]["fill"])
    if "action" in gdf.columns and (gdf["action"] == "protect").any():
        text = "需保护树木 Trees to protect"
        legend.add("trees_protect", text, dot=style.CONTEXT_STYLES["tree_protect"]["fill"])


def _draw_poles(m: folium.Map, gdf: gpd.GeoDataFrame, legend: _Legend) -> None:
    colour = style.CONTEXT_STYLES["pole"]["color"]
    fg = _group(m, "poles")
    _geojson(
        gdf,
        kind="pole",
        style_function=lambda f: {"color": colour, "fillColor": colour, "fillOpacity": 0.9},
        fields=[("pole_kind", "类别 Kind"), ("owner", "权属 Owner")],
        marker=folium.CircleMarker(radius=3),
    ).add_to(fg)
    legend.add("poles", style.label("poles"), dot=colour)


def _draw_warnings(m: folium.Map, gdf: gpd.GeoDataFrame, legend: _Legend) -> None:
    fg = _group(m, "warnings")
    points = gdf.copy()
    # a warning marks a place: lines and areas are shown at a point on them
    points = points.set_geometry(points.geometry.representative_point())
    _geojson(
        points,
        kind="warning",
        style_function=lambda f: {
            "color": style.WARNING_COLOUR,
            "fillColor": style.WARNING_COLOUR,
            "fillOpacity": 0.6,
            "weight": 2,
        },
        fields=[("rule", "规则 Rule"), ("message", "说明 Message")],
        popup=[("rule", "规则 Rule"), ("message", "说明 Message")],
        marker=folium.CircleMarker(radius=7),
    ).add_to(fg)
    legend.add("warnings", style.label("warnings"), dot=style.WARNING_COLOUR)


_DRAW: dict[str, Callable[[folium.Map, gpd.GeoDataFrame, _Legend], None]] = {
    "roads": _draw_roads,
    "existing": _draw_existing,
    "proposed": _draw_proposed,
    "trees": _draw_trees,
    "poles": _draw_poles,
    "protected": _draw_protected,
    "groups": _draw_groups,
    "warnings": _draw_warnings,
}


# --- data preparation ----------------------------------------------------------------


def _check_size(frames: Any, max_features: int | None) -> None:
    if max_features is None:
        return
    total = sum(len(f) for f in frames if f is not None)
    if total > max_features:
        msg = (
            f"{total} features are too many for one review page (limit {max_features}); "
            "use the vector tiles at /tiles/{layer_id}/{z}/{x}/{y}.pbf"
        )
        raise MapTooLargeError(msg)


def _to_display(gdf: gpd.GeoDataFrame, kind: str) -> gpd.GeoDataFrame:
    """Reproject to WGS 84, drop empty geometry, add the label columns the tooltips show."""
    if gdf.crs is None:
        msg = f"the {kind} layer has no CRS; set the city's metric CRS before drawing"
        raise ValueError(msg)
    if kind in ("existing", "proposed") and "utility" not in gdf.columns:
        msg = f"the {kind} layer needs a 'utility' column; got {list(gdf.columns)}"
        raise ValueError(msg)
    out = gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)].copy()
    _add_length(out, kind)
    if "utility" in out.columns:
        unknown = sorted(set(out["utility"]) - set(style.UTILITIES))
        if unknown:
            msg = f"the {kind} layer has unknown utilities {unknown}"
            raise ValueError(msg)
        out["utility_label"] = out["utility"].map(style.label)
    if "utilities" in out.columns:
        out["utilities_label"] = out["utilities"].map(
            lambda us: " · ".join(style.label(u) for u in normalise_utilities(us))
        )
    if "planned_start" in out.columns and "planned_end" in out.columns:
        pairs = zip(out["planned_start"], out["planned_end"], strict=True)
        out["window"] = [f"{s} – {e}" for s, e in pairs]
    for column in out.columns:
        is_text = out[column].dtype == object or pd.api.types.is_string_dtype(out[column])
        if column != out.geometry.name and is_text:
            # user-supplied text goes into innerHTML of tooltips: escape it here
            out[column] = out[column].map(lambda v: html.escape(v) if isinstance(v, str) else v)
    for column in out.columns:
        if column != out.geometry.name and pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = out[column].astype(str)
    out = out.to_crs(DISPLAY_CRS)
    out.geometry = out.geometry.set_precision(10**-COORD_DECIMALS)
    return out


def _add_length(out: gpd.GeoDataFrame, kind: str) -> None:
    # lengths in metres come from the metric CRS, before reprojection
    lines = out.geom_type.isin(["LineString", "MultiLineString"]).all()
    wanted = kind in ("existing", "proposed") or "length_m" not in out.columns
    if wanted and lines and out.crs.is_projected:
        out["length_m"] = out.geometry.length
    if "length_m" in out.columns:
        out["length_m"] = pd.to_numeric(out["length_m"]).round(1)


def _ordered_utilities(values: pd.Series) -> list[str]:
    present = set(values)
    return [u for u in style.UTILITIES if u in present]


def _union_bounds(frames: Any) -> gpd.GeoDataFrame | None:
    frames = [f for f in frames if f is not None and len(f)]
    if not frames:
        return None
    return gpd.GeoDataFrame(geometry=pd.concat([f.geometry for f in frames]), crs=DISPLAY_CRS)


def _fit(m: folium.Map, bounds: gpd.GeoDataFrame) -> None:
    minx, miny, maxx, maxy = bounds.to_crs(DISPLAY_CRS).total_bounds
    m.fit_bounds([[miny, minx], [maxy, maxx]])
