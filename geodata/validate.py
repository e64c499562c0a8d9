"""Check a layer against its kind and turn it into rows for the kind's table.

Every problem is reported with the file, layer, feature (index and id) and field it
concerns. A layer with any problem is refused as a whole; warnings do not refuse.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from geodata.crs import crs_label
from geodata.crs import require_metric
from geodata.errors import FieldMapError
from geodata.errors import LayerValidationError
from geodata.errors import UnknownKindError
from geodata.errors import UnknownUtilityError
from geodata.layers import SourceLayer
from geodata.offsets import OFFSET_SYSTEMS
from geodata.offsets import estimate_offset
from geodata.offsets import from_offset_system
from geodata.utilities import OTHER
from geodata.utilities import UtilityTerm
from geodata.utilities import Vocabulary
from geodata.utilities import default_vocabulary

__all__ = [
    "DUPLICATE_OPTIONS",
    "KINDS",
    "PROBLEM_TITLES",
    "UNPLANNED_OPTIONS",
    "Problem",
    "ValidatedLayer",
    "ValidationReport",
    "parse_field_map",
    "validate_layer",
]

logger = logging.getLogger(__name__)

# problems listed per code in a report; the counts still cover all of them
MAX_LISTED_PER_CODE = 50
# a line shorter than this (metres) has zero length
ZERO_LENGTH_M = 0.001
# dates outside these years are typing errors, not dates
DATE_YEARS = (1900, 2100)
# installation years below this mean "unknown" in real registers (PLATEAU writes 0001)
UNKNOWN_YEAR_BELOW = 1800
# layer kinds searched for duplicate geometries, and what happens to them
DUPLICATE_KINDS = ("roads", "underground_lines")
DUPLICATE_OPTIONS = ("refuse", "drop")
# two lines sharing at least this length (m) overlap
OVERLAP_MIN_M = 1.0
# lines this close (m) count as the same
DUPLICATE_TOLERANCE_M = 0.01
# what happens to lines of a kind the product does not plan with (路灯, 信号, 工业, 不明)
UNPLANNED_OPTIONS = ("keep", "skip")
# the longest field name a DBF holds, in bytes (a shapefile's 管线类型 becomes 管线类 in UTF-8)
DBF_NAME_BYTES = 10
# a box section narrower than this (mm) is a duct arrangement such as 2×3, not W×H
MIN_BOX_MM = 20.0


@dataclass(frozen=True)
class _Field:
    column: str
    type: str  # text | int | float | bool | date | utility | year | diameter | metres
    aliases: tuple[str, ...]
    required: bool = False
    # stored when the file has no such field or leaves it empty (NOT NULL columns)
    default: Any = None


@dataclass(frozen=True)
class _Kind:
    geometry: str  # line | point | polygon
    fields: tuple[_Field, ...]
    date_order: tuple[tuple[str, str], ...] = ()


_ID_FIELDS = (
    "id",
    "source_id",
    "fid",
    "objectid",
    "osm_id",
    "gml_id",
    "entityhandle",
    "uid",
    "编号",
    "编码",
    "标识码",
)

# field names of pipeline surveys (Chinese, English and the pinyin initials of some databases)
_UTILITY_NAMES = (
    "utility",
    "kind",
    "type",
    "管线类型",
    "管线种类",
    "管线类别",
    "管线大类",
    "管类",
    "专业",
    "类别",
    "gxlx",
    "gxlb",
    # a drawing's lines carry their kind in the CAD layer name (JS_给水, RQ, DL)
    "cad_layer",
)
_SUBTYPE_NAMES = ("subtype", "element", "子类", "小类", "管线小类", "子类型", "用途")
_DIAMETER_NAMES = ("diameter_mm", "diameter", "dn", "管径", "管径mm", "规格", "断面尺寸", "gj")

KINDS: dict[str, _Kind] = {
    "roads": _Kind(
        "line",
        (
            _Field("name", "text", ("name", "名称", "道路名称", "路名", "road_name")),
            _Field(
                "road_class",
                "text",
                ("road_class", "highway", "class", "fclass", "道路等级", "等级"),
            ),
            _Field("width_m", "float", ("width_m", "width", "宽度", "路宽")),
            _Field("lanes", "int", ("lanes", "车道数")),
            _Field("pavement", "text", ("pavement", "surface", "路面", "路面材料")),
            _Field("bridge", "bool", ("bridge", "桥梁"), default=False),
            _Field("tunnel", "bool", ("tunnel", "隧道"), default=False),
            _Field("level", "int", ("level", "layer", "层"), default=0),
            _Field("built_on", "date", ("built_on", "建成日期", "通车日期")),
            _Field("overhauled_on", "date", ("overhauled_on", "大修日期")),
            _Field("last_dug_on", "date", ("last_dug_on", "最近开挖日期")),
        ),
        date_order=(("built_on", "overhauled_on"),),
    ),
    "underground_lines": _Kind(
        "line",
        (
            _Field("utility", "utility", _UTILITY_NAMES, required=True),
            _Field("subtype", "text", _SUBTYPE_NAMES),
            _Field("diameter_mm", "diameter", _DIAMETER_NAMES),
            _Field("depth_m", "metres", ("depth_m", "depth", "埋深", "平均埋深", "ms", "埋深m")),
            _Field("material", "text", ("material", "材质", "管材", "管线材质", "cz")),
            _Field(
                "owner", "text", ("owner", "operator", "权属单位", "权属", "qsdw", "权属单位名称")
            ),
            _Field(
                "installed_year",
                "year",
                ("installed_year", "year", "建设年代", "敷设年份", "埋设年代", "msnd"),
            ),
        ),
    ),
    "trees": _Kind(
        "point",
        (
            _Field("species", "text", ("species", "树种", "genus")),
            _Field("dbh_cm", "float", ("dbh_cm", "dbh", "胸径")),
        ),
    ),
    "poles": _Kind(
        "point",
        (
            _Field("pole_kind", "text", ("pole_kind", "power", "杆类型")),
            _Field("owner", "text", ("owner", "operator", "权属单位")),
        ),
    ),
    "protected_areas": _Kind(
        "polygon",
        (
            _Field("area_kind", "text", ("area_kind", "类型", "保护类型")),
            _Field("name", "text", ("name", "名称")),
            _Field("protected_until", "date", ("protected_until", "保护期至")),
        ),
    ),
    "proposed_lines": _Kind(
        "line",
        (
            _Field("utility", "utility", _UTILITY_NAMES, required=True),
            _Field("subtype", "text", _SUBTYPE_NAMES),
            _Field("diameter_mm", "diameter", _DIAMETER_NAMES),
            _Field("project", "text", ("project", "项目", "项目名称"), required=True),
            _Field(
                "applicant", "text", ("applicant", "申请人", "申请单位", "建设单位"), required=True
            ),
            _Field(
                "planned_start",
                "date",
                ("planned_start", "start", "计划开工", "计划开工日期", "开工日期"),
                required=True,
            ),
            _Field(
                "planned_end",
                "date",
                ("planned_end", "end", "计划完工", "计划完工日期", "完工日期"),
                required=True,
            ),
        ),
        date_order=(("planned_start", "planned_end"),),
    ),
}
_ALLOWED = {
    "line": {"LineString", "MultiLineString"},
    "point": {"Point", "MultiPoint"},
    "polygon": {"Polygon", "MultiPolygon"},
}
_TRUE = {"yes", "true", "1", "y", "t", "是", "有"}
_FALSE = {"no", "false", "0", "n", "f", "否", "无", ""}


# every problem and warning code with its title, Chinese first, English second
PROBLEM_TITLES: dict[str, str] = {
    "bad_date": "日期无法识别 / not a date",
    "bad_field_map": "字段映射有误 / bad field map",
    "bad_number": "数值无法识别 / not a number",
    "bad_value": "取值无法识别 / bad value",
    "cad_ignored": "图中注记等未作管线读取 / drawing entities not read as lines",
    "cad_other_geometry": "非线状图元已略去 / other drawing geometry left out",
    "cad_other_layers": "非管线图层上的线已略去 / lines on layers naming no utility left out",
    "crs_from_caller": "坐标系按指定读取 / CRS as given by the caller",
    "duplicate_geometry": "几何重复 / duplicate geometry",
    "duplicate_id": "编号重复 / duplicate id",
    "duplicates_dropped": "重复要素已略去 / duplicates left out",
    "empty_geometry": "几何为空 / empty geometry",
    "invalid_geometry": "几何无效 / invalid geometry",
    "missing_field": "缺少字段 / missing field",
    "missing_value": "缺少取值 / missing value",
    "multipart_split": "多段线已拆分 / multi-part lines split",
    "no_features": "图层没有要素 / no features",
    "offset_converted": "已由 GCJ-02/BD-09 转换 / converted from GCJ-02/BD-09",
    "offset_coordinates": "疑为网络地图偏移坐标 / web-map offset coordinates",
    "offset_needs_lonlat": "偏移转换需要经纬度 / offset conversion needs lon/lat",
    "outside_extent": "超出城市范围 / outside the city",
    "overlapping_geometry": "被另一条线覆盖 / covered by another line",
    "partial_overlap": "与另一条线部分重叠 / partial overlap",
    "reversed_dates": "日期先后颠倒 / dates reversed",
    "reversed_twin": "反向重复线 / reversed twin",
    "size_from_label": "管径取自图上注记 / sizes read from the drawing's labels",
    "undecodable_text": "文字编码无法解码 / undecodable text",
    "unknown_utility": "管线类型无法识别 / unknown utility kind",
    "unplanned_skipped": "不参与规划的管线已略去 / unplanned kinds left out",
    "unplanned_utility": "该管线类型不参与规划 / a kind the product does not plan",
    "utility_from_layer": "管线类型取自图层名 / utility taken from the layer name",
    "wrong_geometry_type": "几何类型不符 / wrong geometry type",
    "z_dropped": "已去除高程 Z / Z values dropped",
    "zero_length": "线长度为零 / zero length",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one feature (or the whole layer, when ``index`` is None)."""

    code: str
    message: str
    index: int | None = None
    feature_id: str | None = None
    field: str | None = None

    def where(self, file: str, layer: str | None) -> str:
        parts = [file]
        if layer:
            parts.append(f"layer {layer!r}")
        if self.index is not None:
            parts.append(
                f"feature {self.index}" + (f" (id {self.feature_id})" if self.feature_id else "")
            )
        if self.field:
            parts.append(f"field {self.field!r}")
        return ", ".join(parts)


@dataclass
class ValidationReport:
    """What was checked and what was wrong; ``ok`` when nothing refuses the layer."""

    file: str
    layer: str | None
    kind: str
    feature_count: int
    source_crs: str
    target_crs: str
    encoding: str | None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        return dict(Counter(p.code for p in self.problems))

    def summary(self) -> str:
        """One paragraph: refused or accepted, and the first problems with where they are."""
        where = self.file + (f", layer {self.layer!r}" if self.layer else "")
        if self.ok:
            return f"{where}: 已接受 {self.feature_count} features accepted as {self.kind}"
        lines = [
            f"{where}: 拒绝导入 refused as {self.kind}, {len(self.problems)} problem(s) "
            f"({', '.join(f'{c} {n}' for c, n in self.counts().items())})"
        ]
        lines += [f"  {p.where(self.file, self.layer)}: {p.message}" for p in self.problems[:10]]
        if len(self.problems) > 10:
            lines.append(f"  ... and {len(self.problems) - 10} more")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (problems capped per code, counts complete)."""
        listed: list[dict[str, Any]] = []
        seen: Counter[str] = Counter()
        for p in self.problems:
            seen[p.code] += 1
            if seen[p.code] <= MAX_LISTED_PER_CODE:
                listed.append(self._problem_dict(p))
        return {
            "file": self.file,
            "layer": self.layer,
            "kind": self.kind,
            "ok": self.ok,
            "feature_count": self.feature_count,
            "source_crs": self.source_crs,
            "target_crs": self.target_crs,
            "encoding": self.encoding,
            "problem_counts": self.counts(),
            "problems": listed,
            "warnings": [self._problem_dict(w) for w in self.warnings[:MAX_LISTED_PER_CODE]],
        }

    def _problem_dict(self, p: Problem) -> dict[str, Any]:
        return {
            "code": p.code,
            "title": PROBLEM_TITLES.get(p.code, p.code),
            "message": p.message,
            "where": p.where(self.file, self.layer),
            "file": self.file,
            "layer": self.layer,
            "index": p.index,
            "feature_id": p.feature_id,
            "field": p.field,
        }


@dataclass(frozen=True)
class ValidatedLayer:
    """Rows ready for the kind's table (metric CRS), with the report that accepted them."""

    rows: gpd.GeoDataFrame
    report: ValidationReport


def validate_layer(
    source: SourceLayer,
    *,
    kind: str,
    crs: Any,
    extent: BaseGeometry | None = None,
    field_map: Mapping[str, str] | None = None,
    unplanned: str = "keep",
    vocabulary: Vocabulary | None = None,
    roads: np.ndarray | None = None,
    offset_from: str | None = None,
    duplicates: str = "refuse",
) -> ValidatedLayer:
    """Validate a layer for ``kind`` and build its table rows in the metric ``crs``.

    Parameters
    ----------
    source
        The layer as read by :func:`geodata.layers.load_layer`.
    kind
        One of :data:`KINDS` (``roads``, ``underground_lines``, ``trees``, ``poles``,
        ``protected_areas``, ``proposed_lines``).
    crs
        The city's metric CRS; geometries are reprojected into it.
    extent
        The city's extent in WGS 84; features that fall outside it are refused (a wrong
        CRS or swapped axes, usually). ``None`` skips the check.
    field_map
        Source field -> table column (``{"类别名": "utility"}``) for names the built-in
        aliases do not know; a mapped field wins over an alias.
    unplanned
        ``"keep"`` stores existing lines of a kind the product does not plan with (路灯,
        信号, 工业, 不明) as utility ``other``; ``"skip"`` leaves them out with a warning.
        Proposed lines of such a kind are always refused.
    vocabulary
        The utility vocabulary (a city's, from :func:`geodata.utilities.load_vocabulary`);
        the built-in one by default.
    roads
        The city's road geometries in ``crs``. A line layer in longitude/latitude that sits
        systematically off them in the GCJ-02 or BD-09 pattern is refused with the
        estimated offset (:func:`geodata.offsets.estimate_offset`).
    offset_from
        ``"gcj02"`` or ``"bd09"``: the layer's lon/lat are in that Chinese web-map system
        and are converted to WGS 84 first.
    duplicates
        Road and existing-line layers are searched for twins (the same geometry, also
        reversed) and lines lying on another of the same kind (covered, or overlapping by
        :data:`OVERLAP_MIN_M` or more). ``"refuse"`` reports each by feature and refuses the
        layer; ``"drop"`` leaves out the twins and covered lines with a warning (partial
        overlaps stay, with a warning).

    Returns
    -------
    ValidatedLayer
        ``rows`` has ``source_id``, ``attrs`` (the unmapped fields), the table's columns
        and the geometry; ``report`` lists warnings.

    Raises
    ------
    LayerValidationError
        If anything is wrong; ``detail`` is the report (file, layer, feature index and id,
        field and reason of each problem).
    UnknownKindError
        If ``kind`` is unknown.
    CRSError
        If ``crs`` is not metric.
    """
    spec = KINDS.get(kind)
    if spec is None:
        msg = f"unknown layer kind {kind!r}; expected one of {', '.join(KINDS)}"
        raise UnknownKindError(msg)
    if duplicates not in DUPLICATE_OPTIONS:
        msg = f"duplicates={duplicates!r}; expected one of {', '.join(DUPLICATE_OPTIONS)}"
        raise ValueError(msg)
    if unplanned not in UNPLANNED_OPTIONS:
        msg = f"unplanned={unplanned!r}; expected one of {', '.join(UNPLANNED_OPTIONS)}"
        raise ValueError(msg)
    target = require_metric(crs, what="the city's geometries")
    frame, cad_notes = _cad_entities_for(source, spec)
    report = ValidationReport(
        file=source.file,
        layer=source.layer,
        kind=kind,
        feature_count=len(frame),
        source_crs=source.source_crs,
        target_crs=crs_label(target),
        encoding=source.encoding,
    )
    if source.crs_from_caller:
        report.warnings.append(
            Problem("crs_from_caller", f"coordinates taken as {source.source_crs}")
        )
    report.warnings += [Problem("cad_ignored", note) for note in source.notes]
    report.warnings += [Problem("cad_other_geometry", note) for note in cad_notes]
    if frame.empty:
        report.problems.append(Problem("no_features", "the layer has no features"))
    id_column = _id_column(frame)
    ids = _feature_ids(frame, id_column)
    _check_text(source, ids, report)
    _check_duplicate_ids(ids, id_column, report)
    geoms, keep = _check_geometries(frame, spec, ids, report)
    offset = False
    if offset_from is not None:
        _undo_offset(geoms, keep, frame.crs, offset_from, report)
    elif roads is not None and len(roads) and spec.geometry == "line" and keep.any():
        offset = _check_offset(geoms[keep], roads, frame.crs, target, report)
    metric = _reproject(geoms, frame.crs, target)
    _check_projected(
        metric, geoms, keep, source_crs=frame.crs, target=target, ids=ids, report=report
    )
    _check_lengths(metric, keep, spec, ids, report)
    if extent is not None and not offset:
        # an offset layer also lies partly outside the city: the offset says why
        _check_extent(
            metric,
            geoms,
            keep,
            extent=extent,
            target=target,
            source_crs=frame.crs,
            ids=ids,
            report=report,
        )
    columns, sources, used = _map_fields(
        frame,
        spec,
        ids,
        report,
        field_map=field_map or {},
        vocabulary=vocabulary,
        drawing=source.driver == "DXF",
    )
    extra, drop = _apply_vocabulary(
        columns, sources, kind=kind, unplanned=unplanned, ids=ids, report=report
    )
    drop |= _check_duplicates(
        metric, keep & ~drop, columns, kind=kind, mode=duplicates, ids=ids, report=report
    )
    if report.problems:
        logger.info("refused %s: %s", source.file, report.counts())
        raise LayerValidationError(report.summary(), report.to_dict())
    rows = _build_rows(
        frame,
        metric,
        spec=spec,
        ids=ids,
        columns=columns,
        used=used,
        id_column=id_column,
        report=report,
        extra=extra,
        drop=drop,
    )
    # object columns keep ints as ints and dates as dates (no NaN-float coercion)
    data = {k: pd.Series(v, dtype=object) for k, v in rows.items() if k != "geometry"}
    frame_out = gpd.GeoDataFrame(data, geometry=list(rows["geometry"]), crs=target)
    return ValidatedLayer(rows=frame_out, report=report)


def parse_field_map(items: list[str] | str | None) -> dict[str, str]:
    """Parse ``字段=utility`` pairs (a list, or one text split by commas or new lines).

    Raises
    ------
    FieldMapError
        If a pair has no ``=`` or an empty side; the message repeats it.

    Examples
    --------
    >>> parse_field_map(["类别名=utility", "口径 = diameter_mm"])
    {'类别名': 'utility', '口径': 'diameter_mm'}
    >>> parse_field_map("GXLB=utility,GG=diameter_mm")
    {'GXLB': 'utility', 'GG': 'diameter_mm'}
    """
    if items is None:
        return {}
    if isinstance(items, str):
        items = re.split(r"[,，\n;]+", items)
    mapping: dict[str, str] = {}
    for item in items:
        if not item.strip():
            continue
        source, sep, column = item.partition("=")
        if not sep or not source.strip() or not column.strip():
            msg = f"field map {item!r}: write SOURCE_FIELD=column, e.g. 管线类别=utility"
            raise FieldMapError(msg)
        mapping[source.strip()] = column.strip()
    return mapping


def _cad_entities_for(source: SourceLayer, spec: _Kind) -> tuple[gpd.GeoDataFrame, list[str]]:
    """A drawing mixes lines and points: keep the kind's own, note how many others."""
    frame = source.frame.reset_index(drop=True)
    if source.driver != "DXF" or frame.empty:
        return frame, []
    types = frame.geometry.geom_type.to_numpy()
    own = np.isin(types, list(_ALLOWED[spec.geometry]))
    if own.all():
        return frame, []
    other = Counter(str(t) for t in types[~own])
    listed = ", ".join(f"{n} {t}" for t, n in sorted(other.items()))
    note = f"drawing entities that are not {spec.geometry}s left out: {listed}"
    return frame[own].reset_index(drop=True), [note]


def _id_column(frame: gpd.GeoDataFrame) -> str | None:
    lowered = {str(c).lower(): str(c) for c in frame.columns if c != frame.geometry.name}
    for candidate in _ID_FIELDS:
        if candidate in lowered:
            return lowered[candidate]
    return None


def _feature_ids(frame: gpd.GeoDataFrame, id_column: str | None) -> list[str | None]:
    if id_column is None:
        return [None] * len(frame)
    return [_id_text(v) for v in frame[id_column].to_numpy(dtype=object)]


def _id_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _check_text(source: SourceLayer, ids: list[str | None], report: ValidationReport) -> None:
    for t in source.undecodable:
        what = "field name" if t.index is None else "text"
        report.problems.append(
            Problem(
                "undecodable_text",
                f"{what} {t.value!r} is not valid {t.encoding}; name the file's encoding "
                "(e.g. encoding='gbk', or add a .cpg file)",
                t.index,
                ids[t.index] if t.index is not None else None,
                t.field,
            )
        )


def _check_duplicate_ids(
    ids: list[str | None], id_column: str | None, report: ValidationReport
) -> None:
    first: dict[str, int] = {}
    for index, value in enumerate(ids):
        if value is None:
            continue
        if value in first:
            report.problems.append(
                Problem(
                    "duplicate_id",
                    f"id {value!r} already used by feature {first[value]}",
                    index,
                    value,
                    id_column,
                )
            )
        else:
            first[value] = index


def _check_geometries(
    frame: gpd.GeoDataFrame, spec: _Kind, ids: list[str | None], report: ValidationReport
) -> tuple[np.ndarray, np.ndarray]:
    """Return the geometries (single parts unwrapped) and a mask of those worth measuring."""
    geoms = frame.geometry.to_numpy().copy()
    keep = np.ones(len(geoms), dtype=bool)
    missing = shapely.is_missing(geoms)
    empty = ~missing & shapely.is_empty(geoms)
    for index in np.flatnonzero(missing | empty):
        what = "no geometry" if missing[index] else "an empty geometry"
        report.problems.append(
            Problem("empty_geometry", f"the feature has {what}", int(index), ids[index])
        )
    keep &= ~(missing | empty)
    allowed = _ALLOWED[spec.geometry]
    types = shapely.get_type_id(geoms)
    names = np.array(
        [
            "Missing",
            "Point",
            "LineString",
            "LinearRing",
            "Polygon",
            "MultiPoint",
            "MultiLineString",
            "MultiPolygon",
            "GeometryCollection",
        ]
    )[types + 1]
    wrong = keep & ~np.isin(names, list(allowed))
    # a multi-point with several points cannot be one tree or pole
    multipoint = keep & (names == "MultiPoint") & (shapely.get_num_geometries(geoms) > 1)
    for index in np.flatnonzero(wrong | multipoint):
        report.problems.append(
            Problem(
                "wrong_geometry_type",
                f"{names[index]} with {shapely.get_num_geometries(geoms[index])} part(s) where a "
                f"{report.kind} layer needs "
                + ("one point per feature" if multipoint[index] else " or ".join(sorted(allowed))),
                int(index),
                ids[index],
            )
        )
    keep &= ~(wrong | multipoint)
    has_z = keep & shapely.has_z(geoms)
    if has_z.any():
        geoms[has_z] = shapely.force_2d(geoms[has_z])
        report.warnings.append(
            Problem("z_dropped", f"{int(has_z.sum())} geometries had Z values; dropped")
        )
    finite = _finite(geoms)
    valid = np.zeros(len(geoms), dtype=bool)
    valid[keep & finite] = shapely.is_valid(geoms[keep & finite])
    for index in np.flatnonzero(keep & ~valid):
        reason = (
            "non-finite coordinate" if not finite[index] else shapely.is_valid_reason(geoms[index])
        )
        if reason.startswith("Too few points") and spec.geometry == "line":
            # GEOS calls a line whose points all coincide invalid; it is a zero-length line
            report.problems.append(
                Problem(
                    "zero_length",
                    "the line has zero length (all its points coincide)",
                    int(index),
                    ids[index],
                )
            )
            continue
        report.problems.append(
            Problem("invalid_geometry", f"invalid geometry: {reason}", int(index), ids[index])
        )
    keep &= valid
    return geoms, keep


def _undo_offset(
    geoms: np.ndarray, keep: np.ndarray, source_crs: Any, system: str, report: ValidationReport
) -> None:
    if system not in OFFSET_SYSTEMS:
        msg = f"offset_from={system!r}; expected one of {', '.join(OFFSET_SYSTEMS)}"
        raise ValueError(msg)
    if not CRS(source_crs).is_geographic:
        report.problems.append(
            Problem(
                "offset_needs_lonlat",
                f"converting from {system} needs longitude/latitude, but the layer is in "
                f"{report.source_crs}",
            )
        )
        return
    geoms[keep] = from_offset_system(geoms[keep], system)
    report.warnings.append(
        Problem("offset_converted", f"coordinates converted from {system} to WGS 84")
    )


def _check_offset(
    geoms: np.ndarray, roads: np.ndarray, source_crs: Any, target: CRS, report: ValidationReport
) -> bool:
    """Refuse a lon/lat layer that the GCJ-02 or BD-09 offset moved off the roads."""
    if not CRS(source_crs).is_geographic:
        return False
    transformer = Transformer.from_crs(source_crs, target, always_xy=True)
    found = estimate_offset(geoms, roads, to_metric=transformer.transform)
    if found.system is None:
        return False
    name = {"gcj02": "GCJ-02 (高德/腾讯 web maps)", "bd09": "BD-09 (百度 web maps)"}
    report.problems.append(
        Problem(
            "offset_coordinates",
            f"the lines sit systematically off the city's roads (median "
            f"{found.median_as_given_m:.0f} m) in the {name[found.system]} pattern: "
            f"shifted about {found.shift_m:.0f} m ({found.shift_east_m:+.0f} m east, "
            f"{found.shift_north_m:+.0f} m north); undone, they lie "
            f"{found.median_undone_m:.1f} m from the roads. Convert them with "
            f"--from {found.system} (API: offset_from={found.system}), or use the "
            "survey's own coordinates",
        )
    )
    return True


def _reproject(geoms: np.ndarray, source: Any, target: CRS) -> np.ndarray:
    series = gpd.GeoSeries(geoms, crs=source)
    if CRS(source).equals(target):
        return geoms
    moved: np.ndarray = series.to_crs(target).to_numpy()
    return moved


def _check_lengths(
    metric: np.ndarray,
    keep: np.ndarray,
    spec: _Kind,
    ids: list[str | None],
    report: ValidationReport,
) -> None:
    if spec.geometry != "line":
        return
    lengths = np.full(len(metric), np.inf)
    lengths[keep] = shapely.length(metric[keep])
    for index in np.flatnonzero(keep & (lengths < ZERO_LENGTH_M)):
        report.problems.append(
            Problem("zero_length", "the line has zero length", int(index), ids[index])
        )
    keep &= lengths >= ZERO_LENGTH_M


def _check_projected(
    metric: np.ndarray,
    source_geoms: np.ndarray,
    keep: np.ndarray,
    *,
    source_crs: Any,
    target: CRS,
    ids: list[str | None],
    report: ValidationReport,
) -> None:
    """Refuse features whose coordinates the source CRS cannot hold (infinite when moved)."""
    bad = keep & ~_finite(metric)
    if not bad.any():
        return
    flipped = shapely.transform(source_geoms[bad], lambda xy: xy[:, ::-1])
    with np.errstate(all="ignore"):
        moved = _reproject(flipped, source_crs, target)
    swapped = _finite(moved)
    for k, index in enumerate(np.flatnonzero(bad)):
        first = shapely.get_coordinates(source_geoms[index])[0]
        hint = (
            "the x and y coordinates look swapped (latitude given first?)"
            if swapped[k]
            else "is the CRS right? name the real one with crs="
        )
        report.problems.append(
            Problem(
                "outside_extent",
                f"coordinates ({first[0]:.6g}, {first[1]:.6g}) are not valid in "
                f"{report.source_crs}: {hint}",
                int(index),
                ids[index],
            )
        )
    keep &= ~bad


def _finite(geoms: np.ndarray) -> np.ndarray:
    """Mask of geometries whose coordinates are all finite (missing ones count as finite)."""
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    bad = np.unique(index[~np.isfinite(coords).all(axis=1)])
    mask = np.ones(len(geoms), dtype=bool)
    mask[bad] = False
    return mask


def _check_extent(
    metric: np.ndarray,
    source_geoms: np.ndarray,
    keep: np.ndarray,
    *,
    extent: BaseGeometry,
    target: CRS,
    source_crs: Any,
    ids: list[str | None],
    report: ValidationReport,
) -> None:
    area = gpd.GeoSeries([extent.segmentize(0.01)], crs=4326).to_crs(target).iloc[0]
    shapely.prepare(area)
    inside = np.ones(len(metric), dtype=bool)
    inside[keep] = shapely.intersects(area, metric[keep])
    outside = np.flatnonzero(keep & ~inside)
    if not len(outside):
        return
    swapped = _swapped_inside(source_geoms[outside], source_crs, target, area)
    bounds = ", ".join(f"{v:.6g}" for v in extent.bounds)
    for k, index in enumerate(outside):
        first = shapely.get_coordinates(source_geoms[index])[0]
        if swapped[k]:
            hint = "the x and y coordinates look swapped (latitude given first?)"
        else:
            hint = (
                f"is the CRS right? it was read as {report.source_crs}; name the real one with crs="
            )
        report.problems.append(
            Problem(
                "outside_extent",
                f"the feature (first point {first[0]:.6g}, {first[1]:.6g}) lies outside the "
                f"city's extent (lon/lat {bounds}): {hint}",
                int(index),
                ids[index],
            )
        )


def _swapped_inside(
    geoms: np.ndarray, source_crs: Any, target: CRS, area: BaseGeometry
) -> np.ndarray:
    flipped = shapely.transform(geoms, lambda xy: xy[:, ::-1])
    with np.errstate(all="ignore"):
        moved = gpd.GeoSeries(flipped, crs=source_crs).to_crs(target).to_numpy()
    ok = _finite(moved)
    result = np.zeros(len(geoms), dtype=bool)
    result[ok] = shapely.intersects(area, moved[ok])
    return result


def _map_fields(
    frame: gpd.GeoDataFrame,
    spec: _Kind,
    ids: list[str | None],
    report: ValidationReport,
    *,
    field_map: Mapping[str, str],
    vocabulary: Vocabulary | None,
    drawing: bool = False,
) -> tuple[dict[str, list[Any]], dict[str, list[Any]], set[str]]:
    """Parse the source fields that feed table columns; problems go to the report.

    In a drawing (``drawing``) whose lines take their utility from the CAD layer, lines
    on layers that name no utility (图框, 道路, 0) are the sheet's furniture: marked
    :class:`_Furniture` to be left out, unless no line is on a utility layer at all.

    Returns the parsed columns, the raw source values per column and the fields used.
    """
    names = [str(c) for c in frame.columns if c != frame.geometry.name]
    lowered = {n.lower(): n for n in names}
    mapped = _check_field_map(field_map, names, spec, report)
    columns: dict[str, list[Any]] = {}
    sources: dict[str, list[Any]] = {}
    used: set[str] = set()
    chosen_fields: dict[str, str] = {}
    for f in spec.fields:
        source = mapped.get(f.column) or _find_field(f, lowered)
        if source is None and f.type == "utility" and report.layer:
            # a delivery with one layer per utility (JS_LINE, 给水管线) and no type field
            term = _layer_term(report.layer, vocabulary or default_vocabulary())
            if term is not None:
                columns[f.column] = [term] * len(frame)
                sources[f.column] = [report.layer] * len(frame)
                report.warnings.append(
                    Problem(
                        "utility_from_layer",
                        f"no utility field: every line taken as {term.label} ({term.name_en}) "
                        f"from the layer name {report.layer!r}",
                        field=f.column,
                    )
                )
                continue
        if source is None:
            if f.required:
                report.problems.append(
                    Problem(
                        "missing_field",
                        f"no {f.column!r} field (accepted names: {', '.join(f.aliases)}; "
                        f"the file has {', '.join(names) or 'none'}; map one with "
                        f"field_map, e.g. --map 字段={f.column})",
                        field=f.column,
                    )
                )
            continue
        used.add(source)
        chosen_fields[f.column] = source
        columns[f.column] = _parse_column(
            frame[source],
            f,
            ids,
            report,
            vocabulary=vocabulary or default_vocabulary(),
            furniture=drawing and source == _CAD_LAYER,
        )
        sources[f.column] = [
            _json_value(v) if p else None
            for v, p in zip(
                frame[source].to_numpy(dtype=object), frame[source].notna().to_numpy(), strict=True
            )
        ]
    if "utility" in columns and "subtype" in columns:
        _refine_by_subtype(
            columns,
            chosen_fields["subtype"],
            ids,
            report,
            vocabulary=vocabulary or default_vocabulary(),
        )
    if drawing and _CAD_LABEL in names and "diameter_mm" in {f.column for f in spec.fields}:
        _sizes_from_labels(frame[_CAD_LABEL], columns, sources, report)
    for earlier, later in spec.date_order:
        if earlier in columns and later in columns:
            for index, (a, b) in enumerate(zip(columns[earlier], columns[later], strict=True)):
                if a is not None and b is not None and b < a:
                    report.problems.append(
                        Problem(
                            "reversed_dates",
                            f"{later} {b.isoformat()} is before {earlier} {a.isoformat()}",
                            index,
                            ids[index],
                            later,
                        )
                    )
    return columns, sources, used


def _parse_column(
    column: pd.Series,
    f: _Field,
    ids: list[str | None],
    report: ValidationReport,
    *,
    vocabulary: Vocabulary,
    furniture: bool,
) -> list[Any]:
    """Parse one source field for ``f``; problems go to the report.

    ``furniture``: the utility comes from a drawing's CAD layers (see :func:`_map_fields`).
    """
    source = str(column.name)
    parse = _PARSERS[f.type]
    if f.type == "utility":

        def parse(value: Any) -> UtilityTerm | None:
            return None if _is_null(value) else vocabulary.classify(str(value))

    raws = column.to_numpy(dtype=object)
    present = column.notna().to_numpy()
    values: list[Any] = [None] * len(raws)
    unknown_layers: list[Problem] = []
    for index in range(len(raws)):
        try:
            value = parse(raws[index]) if present[index] else None
        except (ValueError, UnknownUtilityError) as exc:
            problem = Problem(_CODES[f.type], str(exc), index, ids[index], source)
            if furniture and f.type == "utility":
                values[index] = _Furniture(str(raws[index]))
                unknown_layers.append(problem)
            else:
                report.problems.append(problem)
            continue
        if value is None and f.required:
            report.problems.append(
                Problem("missing_value", f"{f.column} is empty", index, ids[index], source)
            )
        values[index] = value
    if unknown_layers and not any(isinstance(v, UtilityTerm) for v in values):
        # no line on a utility layer: the drawing is not a pipeline survey as it is
        report.problems += unknown_layers
    return values


def _refine_by_subtype(
    columns: dict[str, list[Any]],
    field_name: str,
    ids: list[str | None],
    report: ValidationReport,
    *,
    vocabulary: Vocabulary,
) -> None:
    """A sub-type field in the vocabulary (大类 排水, 小类 雨水) makes the term more precise.

    The sub-term replaces the term when it is of the same utility and says more (PS with
    小类 YS gives storm), or names a kind the product does not plan (电力 with 小类 路灯);
    its sub-type is then stored, not the text. A sub-type outside the vocabulary (中压,
    球墨) stays as written; one that contradicts the type (给水 with 燃气, 雨水 with 污水)
    is a problem.
    """
    terms, subtypes = columns["utility"], columns["subtype"]
    for index, (term, text) in enumerate(zip(terms, subtypes, strict=True)):
        if not isinstance(term, UtilityTerm) or text is None:
            continue
        try:
            sub = vocabulary.classify(text)
        except UnknownUtilityError:
            continue
        if sub.utility == term.utility and not (
            term.subtype and sub.subtype and term.subtype != sub.subtype
        ):
            terms[index] = sub if sub.subtype and not term.subtype else term
        elif sub.utility == OTHER:
            terms[index] = sub
        else:
            report.problems.append(
                Problem(
                    "unknown_utility",
                    f"sub-type {text!r} ({sub.label}) contradicts the type {term.label}; "
                    "fix one of them or map the fields",
                    index,
                    ids[index],
                    field_name,
                )
            )
            continue
        subtypes[index] = None


def _layer_term(layer: str, vocabulary: Vocabulary) -> UtilityTerm | None:
    """The utility a layer's name stands for (``JS_LINE``, ``给水管线``, ``RQ``), or None."""
    try:
        return vocabulary.classify(layer)
    except UnknownUtilityError:
        return None


# the fields the DXF reader gives each entity's CAD layer and labels in (geodata.dxf)
_CAD_LAYER = "cad_layer"
_CAD_LABEL = "cad_label"
# a label's word that is a size by its form (DN300, De110, Φ600, D219×6, 600×400, 4孔), not
# a bare number (a depth) nor D or d and a number (a point number such as D12 on 电力 sheets)
_MARKED_SIZE = re.compile(r"(?:dn|de|φ|ф|ø)\s*\d|\d\s*[×x*✕]\s*\d|\d\s*孔", re.IGNORECASE)


def _sizes_from_labels(
    labels: pd.Series,
    columns: dict[str, list[Any]],
    sources: dict[str, list[Any]],
    report: ValidationReport,
) -> None:
    """A drawing's lines without a size field: the size from their label (``DN300 球墨铸铁``)."""
    if "diameter_mm" in columns:
        return
    sizes: list[Any] = []
    words: list[Any] = []
    for label in labels.to_numpy(dtype=object):
        size, word = _size_in_label(label)
        sizes.append(size)
        words.append(word)
    found = sum(size is not None for size in sizes)
    if not found:
        return
    columns["diameter_mm"] = sizes
    sources["diameter_mm"] = words
    report.warnings.append(
        Problem(
            "size_from_label",
            f"{found} line sizes read from their CAD labels (e.g. {next(w for w in words if w)})",
            field=_CAD_LABEL,
        )
    )


def _size_in_label(label: Any) -> tuple[_Size | None, str | None]:
    """The first word of a label that is a size by its form, parsed; (None, None) if none."""
    if not isinstance(label, str):
        return None, None
    for word in re.split(r"[\s/,，;；]+", unicodedata.normalize("NFKC", label)):
        if not _MARKED_SIZE.search(word):
            continue
        try:
            size = _size_from_text(word)
        except ValueError:
            continue
        if size is not None:
            return size, word
    return None, None


@dataclass(frozen=True)
class _Furniture:
    """A drawing's line on a CAD layer that names no utility (图框 frame, 道路 roads, 0)."""

    layer: str


def _check_field_map(
    field_map: Mapping[str, str], names: list[str], spec: _Kind, report: ValidationReport
) -> dict[str, str]:
    """Return table column -> source field for a valid mapping; problems go to the report."""
    known = {f.column for f in spec.fields}
    mapped: dict[str, str] = {}
    for source, column in field_map.items():
        if column not in known:
            report.problems.append(
                Problem(
                    "bad_field_map",
                    f"field map {source}={column}: {column!r} is not a {report.kind} column "
                    f"(columns: {', '.join(sorted(known))})",
                    field=source,
                )
            )
        elif source not in names:
            report.problems.append(
                Problem(
                    "bad_field_map",
                    f"field map {source}={column}: the file has no field {source!r} "
                    f"(it has {', '.join(names) or 'none'})",
                    field=source,
                )
            )
        elif column in mapped:
            report.problems.append(
                Problem(
                    "bad_field_map",
                    f"field map: {mapped[column]!r} and {source!r} both map to {column!r}",
                    field=source,
                )
            )
        else:
            mapped[column] = source
    return mapped


def _find_field(f: _Field, lowered: dict[str, str]) -> str | None:
    """The source field for ``f``: an alias, or an alias cut by the DBF 10-byte limit.

    A cut name matches by prefix: ``管线类`` and, from tools that decoded the stray byte of
    the cut character, ``管线类\ufffd`` or ``管线类?`` all stand for ``管线类型``.
    """
    for alias in f.aliases:
        if alias in lowered:
            return lowered[alias]
    for alias in f.aliases:
        for name, original in lowered.items():
            if _is_dbf_cut(name, alias):
                return original
    return None


# what a tool leaves of the character the DBF limit cut in two (a replacement mark)
_CUT_MARKS = "\ufffd?"


def _is_dbf_cut(name: str, alias: str) -> bool:
    """Whether the field ``name`` is ``alias`` cut to the DBF's 10 bytes.

    The name, without a trailing replacement mark, must be a prefix of the alias that fills
    the 10 bytes but for part of one character, in UTF-8 (3 bytes a character) or GBK (2).

    Examples
    --------
    >>> _is_dbf_cut("管线类", "管线类型"), _is_dbf_cut("管线类\ufffd", "管线类型")
    (True, True)
    >>> _is_dbf_cut("权属单位名", "权属单位名称"), _is_dbf_cut("管线", "管线类型")
    (True, False)
    >>> _is_dbf_cut("planned_st", "planned_start")
    True
    """
    stem = name.rstrip(_CUT_MARKS)
    if not stem or stem == alias or not alias.startswith(stem):
        return False
    return any(_cut_in(stem, alias, codec) for codec in ("utf-8", "gbk"))


def _cut_in(stem: str, alias: str, codec: str) -> bool:
    try:
        kept, whole = stem.encode(codec), alias.encode(codec)
    except UnicodeEncodeError:
        return False
    if len(whole) <= DBF_NAME_BYTES or len(kept) > DBF_NAME_BYTES:
        return False
    # the character after the stem did not fit in what was left of the 10 bytes
    following = alias[len(stem)].encode(codec)
    return len(kept) + len(following) > DBF_NAME_BYTES


def _apply_vocabulary(
    columns: dict[str, list[Any]],
    sources: dict[str, list[Any]],
    *,
    kind: str,
    unplanned: str,
    ids: list[str | None],
    report: ValidationReport,
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Turn vocabulary terms and sizes into columns; keep the source text in ``attrs``.

    Returns the attributes to add per feature and the mask of features to leave out.
    """
    n = len(ids)
    extra: list[dict[str, Any]] = [{} for _ in range(n)]
    drop = np.zeros(n, dtype=bool)
    terms = columns.get("utility")
    if terms is not None:
        _apply_terms(
            terms,
            columns,
            sources,
            extra,
            drop,
            kind=kind,
            unplanned=unplanned,
            ids=ids,
            report=report,
        )
    _apply_sizes(columns, sources, extra)
    return extra, drop


def _apply_terms(
    terms: list[Any],
    columns: dict[str, list[Any]],
    sources: dict[str, list[Any]],
    extra: list[dict[str, Any]],
    drop: np.ndarray,
    *,
    kind: str,
    unplanned: str,
    ids: list[str | None],
    report: ValidationReport,
) -> None:
    n = len(ids)
    subtypes = columns.get("subtype", [None] * n)
    raw_types = sources.get("utility", [None] * n)
    raw_subtypes = sources.get("subtype", [None] * n)
    skipped: Counter[str] = Counter()
    furniture: Counter[str] = Counter()
    for index, term in enumerate(terms):
        if isinstance(term, _Furniture):
            drop[index] = True
            furniture[term.layer] += 1
            terms[index] = None
            continue
        if not isinstance(term, UtilityTerm):
            continue
        extra[index]["source_type"] = raw_types[index]
        extra[index]["survey_code"] = term.code
        if raw_subtypes[index] is not None:
            extra[index]["source_subtype"] = raw_subtypes[index]
        subtypes[index] = term.subtype or subtypes[index]
        terms[index] = term.utility
        if term.planned:
            continue
        if kind == "proposed_lines":
            report.problems.append(
                Problem(
                    "unplanned_utility",
                    f"{raw_types[index]!r} ({term.name_zh}, {term.name_en}) is not a kind "
                    "the product plans trenches for; propose one of "
                    "给水, 排水, 燃气, 热力, 电力, 电信",
                    index,
                    ids[index],
                )
            )
        elif unplanned == "skip":
            drop[index] = True
            skipped[term.label] += 1
    if "subtype" in columns or any(s is not None for s in subtypes):
        columns["subtype"] = subtypes
    if furniture:
        listed = ", ".join(f"{layer} {count}" for layer, count in sorted(furniture.items()))
        report.warnings.append(
            Problem(
                "cad_other_layers",
                f"{furniture.total()} lines on CAD layers that name no utility left out "
                f"(图框、道路等 frame, roads...): {listed}",
                field=_CAD_LAYER,
            )
        )
    if skipped:
        listed = ", ".join(f"{label} {count}" for label, count in skipped.items())
        report.warnings.append(
            Problem(
                "unplanned_skipped",
                f"{skipped.total()} lines of kinds the product does not plan with were "
                f"left out ({listed})",
            )
        )


def _check_duplicates(
    metric: np.ndarray,
    keep: np.ndarray,
    columns: dict[str, list[Any]],
    *,
    kind: str,
    mode: str,
    ids: list[str | None],
    report: ValidationReport,
) -> np.ndarray:
    """Find twins (also reversed) and lines lying on another; refuse or drop them.

    Returns the mask of features to leave out (``mode="drop"``).
    """
    drop = np.zeros(len(metric), dtype=bool)
    if kind not in DUPLICATE_KINDS or keep.sum() < 2:
        return drop
    index = np.flatnonzero(keep)
    geoms = metric[index]
    group = [
        "/".join(str(columns[c][i]) for c in ("utility", "subtype") if c in columns) for i in index
    ]
    found = _find_duplicates(geoms, group)
    for k, of, code, what in found:
        n, m = int(index[k]), int(index[of])
        other = f"feature {m}" + (f" (id {ids[m]})" if ids[m] else "")
        message = f"{what} {other}"
        if mode == "drop" and code != "partial_overlap":
            drop[n] = True
            continue
        if mode == "drop":
            report.warnings.append(
                Problem(code, message + " (kept: drop cannot split it)", n, ids[n])
            )
            continue
        report.problems.append(
            Problem(code, message + "; remove it, or import with duplicates=drop", n, ids[n])
        )
    if drop.any():
        counts = Counter(code for k, _, code, _ in found if drop[index[k]])
        listed = ", ".join(f"{c} {n}" for c, n in counts.items())
        first_ids = ", ".join(str(ids[i] or i) for i in np.flatnonzero(drop)[:10])
        report.warnings.append(
            Problem(
                "duplicates_dropped",
                f"{int(drop.sum())} duplicate features left out ({listed}): {first_ids}",
            )
        )
    return drop


def _find_duplicates(geoms: np.ndarray, group: list[str]) -> list[tuple[int, int, str, str]]:
    """(feature, the feature it repeats, code, how) for twins, covered and overlapping lines.

    Lines match within :data:`DUPLICATE_TOLERANCE_M` (reprojection leaves float noise).
    """
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="dwithin", distance=DUPLICATE_TOLERANCE_M)
    groups = np.asarray(group, dtype=object)
    pairs = (left != right) & (groups[left] == groups[right])
    left, right = left[pairs], right[pairs]
    found: list[tuple[int, int, str, str]] = []
    if not len(left):
        return found
    buffered = shapely.buffer(geoms, DUPLICATE_TOLERANCE_M, quad_segs=2)
    covers_lr = shapely.covers(buffered[left], geoms[right])
    covers_rl = shapely.covers(buffered[right], geoms[left])
    starts = shapely.get_point(geoms, 0)
    for a, b, ab, ba in zip(left, right, covers_lr, covers_rl, strict=True):
        if ab and ba:
            if a < b:
                same = shapely.distance(starts[a], starts[b]) <= DUPLICATE_TOLERANCE_M
                code = "duplicate_geometry" if same else "reversed_twin"
                what = "the same geometry as" if same else "the same line, reversed, as"
                found.append((int(b), int(a), code, what))
        elif ab:
            found.append((int(b), int(a), "overlapping_geometry", "covered by"))
        elif a < b and not ba:
            shared = float(shapely.length(shapely.intersection(geoms[b], buffered[a])))
            if shared >= OVERLAP_MIN_M:
                found.append(
                    (int(b), int(a), "partial_overlap", f"overlapping {shared:.1f} m with")
                )
    return found


def _apply_sizes(
    columns: dict[str, list[Any]], sources: dict[str, list[Any]], extra: list[dict[str, Any]]
) -> None:
    n = len(extra)
    sizes = columns.get("diameter_mm")
    if sizes is not None:
        raw_sizes = sources.get("diameter_mm", [None] * n)
        for index, size in enumerate(sizes):
            raw = raw_sizes[index]
            if isinstance(raw, str) and raw.strip():
                # the size as written stays, also when it says "none" (0, -, /, 无)
                extra[index]["source_size"] = raw
            if not isinstance(size, _Size):
                continue
            if size.holes is not None:
                sizes[index] = None
                extra[index]["duct_holes"] = size.holes
                continue
            # diameter_mm is the horizontal size: the clearance checks measure outer wall
            # to outer wall with it, so a box keeps its width there and both sides in attrs
            sizes[index] = size.width_mm
            if size.height_mm is not None:
                extra[index]["section"] = "box"
                extra[index]["box_width_mm"] = size.width_mm
                extra[index]["box_height_mm"] = size.height_mm
            if size.wall_mm is not None:
                extra[index]["wall_mm"] = size.wall_mm
            if size.count is not None:
                extra[index]["pipe_count"] = size.count


def _build_rows(
    frame: gpd.GeoDataFrame,
    metric: np.ndarray,
    *,
    spec: _Kind,
    ids: list[str | None],
    columns: dict[str, list[Any]],
    used: set[str],
    id_column: str | None,
    report: ValidationReport,
    extra: list[dict[str, Any]],
    drop: np.ndarray,
) -> dict[str, Any]:
    unmapped = [
        c for c in frame.columns if c != frame.geometry.name and c not in used and c != id_column
    ]
    attrs = _attrs(frame[unmapped]) if unmapped else [{} for _ in range(len(frame))]
    for index, added in enumerate(extra):
        if added:
            attrs[index] = {**attrs[index], **{k: v for k, v in added.items() if v is not None}}
    source_ids = [i if i is not None else str(n) for n, i in enumerate(ids)]
    rows: dict[str, list[Any]] = {"source_id": [], "attrs": [], "geometry": []}
    for name in columns:
        rows[name] = []
    split = 0
    for n, geom in enumerate(metric):
        if drop[n]:
            continue
        parts = _parts(geom, spec.geometry)
        split += len(parts) > 1
        for k, part in enumerate(parts):
            rows["source_id"].append(source_ids[n] if len(parts) == 1 else f"{source_ids[n]}/{k}")
            rows["attrs"].append(attrs[n])
            rows["geometry"].append(part)
            for name, values in columns.items():
                rows[name].append(values[n])
    if split:
        report.warnings.append(
            Problem("multipart_split", f"{split} multi-part lines stored as their parts (id/part)")
        )
    for f in spec.fields:
        if f.default is None:
            continue
        if f.column in rows:
            rows[f.column] = [f.default if v is None else v for v in rows[f.column]]
        else:
            rows[f.column] = [f.default] * len(rows["geometry"])
    return rows


def _parts(geom: BaseGeometry, kind: str) -> list[BaseGeometry]:
    if kind == "polygon":
        return [geom if geom.geom_type == "MultiPolygon" else shapely.MultiPolygon([geom])]
    if geom.geom_type == "MultiPoint":
        return [geom.geoms[0]]
    if geom.geom_type == "MultiLineString":
        merged = shapely.line_merge(geom) if len(geom.geoms) > 1 else geom.geoms[0]
        return list(getattr(merged, "geoms", [merged]))
    return [geom]


def _attrs(frame: pd.DataFrame) -> list[dict[str, Any]]:
    # column by column, touching only the non-null cells (OSM layers are mostly empty)
    out: list[dict[str, Any]] = [{} for _ in range(len(frame))]
    for name in frame.columns:
        column = frame[name]
        values = column.to_numpy(dtype=object)
        key = str(name)
        for index in np.flatnonzero(column.notna().to_numpy()):
            out[index][key] = _json_value(values[index])
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def _is_null(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    return False


def _parse_text(value: Any) -> str | None:
    if _is_null(value):
        return None
    text = str(value).strip()
    return text or None


def _parse_float(value: Any) -> float | None:
    if _is_null(value) or (isinstance(value, str) and _is_blank(value)):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        msg = f"{value!r} is not a number"
        raise ValueError(msg) from None
    if not math.isfinite(number):
        msg = f"{value!r} is not a finite number"
        raise ValueError(msg)
    return number


@dataclass(frozen=True)
class _Size:
    """A pipe size: a round diameter (``height_mm`` None) or a box section W×H.

    ``wall_mm`` is the wall thickness of ``D219×6``; ``count`` the pipes of ``2×DN500``
    (a heating supply and return laid side by side), each of ``width_mm``; ``holes`` the
    ducts of a telecom duct bank written ``4孔``.
    """

    width_mm: float
    height_mm: float | None = None
    wall_mm: float | None = None
    count: int | None = None
    # a duct bank given by its number of ducts (``4孔``): no size in mm (width 0)
    holes: int | None = None


# what surveyors write in a cell with no value: stored as empty, like a blank
_BLANK_MARKS = frozenset({"-", "--", "—", "——", "/", "\\", "无", "不详", "未知", "n/a", "na"})
_NUMBER = r"(\d+(?:\.\d+)?)"
# a round size's prefix: DN (nominal), De/de (PE outside), D, Φ/φ/Ø/Ф (diameter)
_PREFIX = r"(?:dn|de|d|φ|ф|ø)"
_UNIT = r"\s*(?:mm|毫米)?"
_TIMES = r"\s*[×x*✕]\s*"
# DN300, Φ300, φ300, Ø300, de110, D300, 300mm
_ROUND = re.compile(rf"^{_PREFIX}?\s*{_NUMBER}{_UNIT}$", re.IGNORECASE)
# a box 600×400, 600x400, 600*400, B×H=600×400 (mm)
_BOX = re.compile(
    rf"^(?:[a-z]{_TIMES}[a-z]\s*=\s*)?{_NUMBER}{_TIMES}{_NUMBER}{_UNIT}$", re.IGNORECASE
)
# a steel or PE pipe by outside diameter and wall: D219×6, Φ159×4.5, de110×10
_WALL = re.compile(rf"^{_PREFIX}\s*{_NUMBER}{_TIMES}{_NUMBER}{_UNIT}$", re.IGNORECASE)
# several pipes of one size: 2×DN500, 2DN500
_COUNT = re.compile(rf"^(\d+)(?:{_TIMES}|\s*){_PREFIX}\s*{_NUMBER}{_UNIT}$", re.IGNORECASE)
# a telecom duct bank by its number of ducts: 4孔, 12孔 (no size in mm)
_HOLES = re.compile(r"^(\d+)\s*孔$")
# a wall is thinner than this share of the diameter (D219×6: 3 %); more is no wall
MAX_WALL_SHARE = 0.25


def _parse_diameter(value: Any) -> _Size | None:
    """Parse a 管径 in mm: 300, DN300, Φ300, de110, D219×6, 2×DN500 or a box 600×400.

    A size of 0, a blank and the marks for "no value" (``-``, ``/``, ``无``) are empty.

    Examples
    --------
    >>> _parse_diameter("DN300").width_mm
    300.0
    >>> box = _parse_diameter("600×400")
    >>> box.width_mm, box.height_mm
    (600.0, 400.0)
    >>> steel = _parse_diameter("D219×6")
    >>> steel.width_mm, steel.wall_mm
    (219.0, 6.0)
    >>> _parse_diameter("2×DN500").count
    2
    >>> _parse_diameter(0) is None
    True
    """
    if _is_null(value):
        return None
    if isinstance(value, str):
        return _size_from_text(value)
    number = _parse_float(value)
    if number is not None and number < 0:
        msg = f"{value!r} is not a pipe size (negative)"
        raise ValueError(msg)
    return _Size(number) if number else None


def _size_from_text(value: str) -> _Size | None:
    text = unicodedata.normalize("NFKC", value).strip()
    if _is_blank(text):
        return None
    for pattern, build in _SIZE_FORMS:
        if (found := pattern.match(text)) is not None:
            return build(value, found)
    msg = (
        f"{value!r} is not a pipe size (write 300, DN300, Φ300, de110, D219×6, 2×DN500, "
        "600×400 in mm, or 4孔 for a duct bank)"
    )
    raise ValueError(msg)


def _round_size(value: str, found: re.Match[str]) -> _Size | None:
    number = float(found.group(1))
    return _Size(number) if number > 0 else None


def _walled_size(value: str, found: re.Match[str]) -> _Size:
    diameter, wall = float(found.group(1)), float(found.group(2))
    if not 0 < wall <= diameter * MAX_WALL_SHARE:
        msg = (
            f"{value!r}: a wall of {wall:g} mm does not fit a pipe of {diameter:g} mm; "
            "write D219×6 (outside diameter × wall) or 600×400 (box W×H)"
        )
        raise ValueError(msg)
    return _Size(diameter, wall_mm=wall)


def _duct_bank(value: str, found: re.Match[str]) -> _Size:
    return _Size(0.0, holes=int(found.group(1)))


def _pipes_of_one_size(value: str, found: re.Match[str]) -> _Size | None:
    count, diameter = int(found.group(1)), float(found.group(2))
    if count < 1 or diameter <= 0:
        return None
    return _Size(diameter, count=count if count > 1 else None)


def _box_size(value: str, found: re.Match[str]) -> _Size | None:
    width, height = float(found.group(1)), float(found.group(2))
    if 0 < min(width, height) < MIN_BOX_MM or (min(width, height) == 0 < max(width, height)):
        msg = (
            f"{value!r} looks like a duct arrangement (rows×columns), not a section "
            "W×H in mm; give the section size"
        )
        raise ValueError(msg)
    return _Size(width, height) if width > 0 else None


# the written forms of a size, tried in this order
_SIZE_FORMS: tuple[tuple[re.Pattern[str], Callable[[str, re.Match[str]], _Size | None]], ...] = (
    (_ROUND, _round_size),
    (_WALL, _walled_size),
    (_HOLES, _duct_bank),
    (_COUNT, _pipes_of_one_size),
    (_BOX, _box_size),
)


def _is_blank(text: str) -> bool:
    """Whether a cell's text says "no value": empty, or a mark such as ``-``, ``/``, ``无``."""
    folded = unicodedata.normalize("NFKC", text).strip().lower()
    return not folded or folded in _BLANK_MARKS


def _parse_metres(value: Any) -> float | None:
    """Parse a length in metres, with or without a unit: ``1.2``, ``1.2m``, ``1.20米``."""
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip().lower()
        value = re.sub(r"\s*(m|米)$", "", text)
    return _parse_float(value)


def _parse_int(value: Any) -> int | None:
    number = _parse_float(value)
    if number is None:
        return None
    if not number.is_integer():
        msg = f"{value!r} is not a whole number"
        raise ValueError(msg)
    return int(number)


def _parse_year(value: Any) -> int | None:
    year = _parse_int(value)
    if year is None or year < UNKNOWN_YEAR_BELOW:
        return None
    if year > DATE_YEARS[1]:
        msg = f"{value!r} is not a plausible year"
        raise ValueError(msg)
    return year


def _parse_bool(value: Any) -> bool | None:
    if _is_null(value):
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return bool(value)
    text = str(value).strip().lower()
    # OSM writes bridge=viaduct, tunnel=building_passage...: any other value means yes
    return text not in _FALSE


_DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%Y%m%d",
    "%Y年%m月%d日",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
)


def _parse_date(value: Any) -> dt.date | None:
    if _is_null(value) or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, pd.Timestamp | dt.datetime):
        day = value.date()
    elif isinstance(value, dt.date):
        day = value
    elif isinstance(value, np.datetime64):
        day = pd.Timestamp(value).date()
    else:
        day = _date_from_text(value)
    if not DATE_YEARS[0] <= day.year <= DATE_YEARS[1]:
        msg = f"{value!r} is not a plausible date"
        raise ValueError(msg)
    return day


def _date_from_text(value: Any) -> dt.date:
    text = re.sub(r"\s+", " ", str(value).strip())
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    msg = f"{value!r} is not a date (write YYYY-MM-DD)"
    raise ValueError(msg)


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "text": _parse_text,
    "float": _parse_float,
    "int": _parse_int,
    "year": _parse_year,
    "bool": _parse_bool,
    "date": _parse_date,
    "diameter": _parse_diameter,
    "metres": _parse_metres,
    # replaced by the vocabulary's classify in _map_fields
    "utility": _parse_text,
}
_CODES = {
    "text": "bad_value",
    "float": "bad_number",
    "int": "bad_number",
    "year": "bad_number",
    "bool": "bad_value",
    "date": "bad_date",
    "diameter": "bad_number",
    "metres": "bad_number",
    "utility": "unknown_utility",
}
