"""Load layers from GIS files and save them again, through pyogrio (GDAL).

Reads GeoPackage (choose the layer), Shapefile (also zipped; ``.prj`` and ``.cpg`` are
honoured), GeoJSON (RFC 7946 and the legacy ``crs`` member), FlatGeobuf and DXF. Writes
GeoPackage, GeoJSON, FlatGeobuf and DXF. A layer without a CRS is refused unless the caller
names one; DXF never has one.
"""

from __future__ import annotations

import codecs
import glob
import hashlib
import logging
import re
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
from pyogrio.errors import DataLayerError
from pyogrio.errors import DataSourceError

from geodata.crs import crs_label
from geodata.crs import parse_crs
from geodata.dxf import read_dxf
from geodata.errors import LayerReadError
from geodata.errors import MissingCRSError
from geodata.limits import DEFAULT_LIMITS
from geodata.limits import ImportLimits
from geodata.limits import check_features
from geodata.limits import check_geometries
from geodata.limits import check_zip
from geodata.limits import copy_limited

__all__ = [
    "READ_FORMATS",
    "WRITE_FORMATS",
    "SourceLayer",
    "TextProblem",
    "file_digest",
    "list_layers",
    "load_layer",
    "save_layer",
]

logger = logging.getLogger(__name__)

# file suffix -> GDAL driver
READ_FORMATS: dict[str, str] = {
    ".gpkg": "GPKG",
    ".shp": "ESRI Shapefile",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".fgb": "FlatGeobuf",
    ".dxf": "DXF",
}
WRITE_FORMATS: dict[str, str] = {
    ".gpkg": "GPKG",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".fgb": "FlatGeobuf",
    ".dxf": "DXF",
}
# the longest field name a DBF holds, in bytes
DBF_NAME_BYTES = 10
# bit 11 of a zip member's flags: its name is UTF-8
_ZIP_UTF8_FLAG = 0x800
# Shapefile code pages written as bare numbers in .cpg files
_CPG_NUMBERS = {"65001": "utf-8", "936": "gbk", "54936": "gb18030", "950": "big5"}


@dataclass(frozen=True)
class TextProblem:
    """A text value or field name that the declared encoding cannot decode."""

    index: int | None
    field: str
    value: str
    encoding: str


@dataclass(frozen=True)
class SourceLayer:
    """One layer as read from a file, in its own CRS, with where it came from.

    ``file`` is the name reports show (an upload's original name, or the path given);
    ``encoding`` is the text encoding used to decode it (``None``: the format's own);
    ``notes`` say what the reader left out (a drawing's text and blocks).
    """

    frame: gpd.GeoDataFrame
    file: str
    layer: str | None
    driver: str
    source_crs: str
    encoding: str | None
    crs_from_caller: bool = False
    undecodable: tuple[TextProblem, ...] = field(default=())
    notes: tuple[str, ...] = field(default=())


# the parts of a shapefile that hold its data (an index like .qix is left out)
_SHAPEFILE_DATA = (".shp", ".shx", ".dbf", ".prj", ".cpg")


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes; for a shapefile, of its data parts together, in order.

    The same survey delivered twice gives the same digest whatever its name or folder, so
    an import can recognise it (:func:`geodata.storage.store_layer`).
    """
    path = Path(path)
    parts = [path]
    if path.suffix.lower() == ".shp":
        siblings = {p.suffix.lower(): p for p in path.parent.glob(f"{glob.escape(path.stem)}.*")}
        parts = [siblings[s] for s in _SHAPEFILE_DATA if s in siblings]
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.suffix.lower().encode())
        with part.open("rb") as handle:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
    return digest.hexdigest()


def list_layers(path: str | Path) -> list[str]:
    """Return the names of the layers with geometry in a file (a zip is looked into)."""
    path = Path(path)
    if path.suffix.lower() == ".zip":
        with tempfile.TemporaryDirectory(prefix="cotrench-zip-") as tmp:
            return [Path(p).stem if p.endswith(".shp") else p for p in _zip_members(path, tmp)]
    try:
        rows = pyogrio.list_layers(path)
    except DataSourceError as exc:
        reason = _reason(exc, path)
        msg = f"{path.name}: 无法作为 GIS 文件打开 / cannot open as a GIS file ({reason})"
        raise LayerReadError(msg) from exc
    return [str(name) for name, geometry_type in rows if geometry_type is not None]


def load_layer(
    path: str | Path,
    *,
    layer: str | None = None,
    crs: Any = None,
    encoding: str | None = None,
    display_name: str | None = None,
    limits: ImportLimits = DEFAULT_LIMITS,
) -> SourceLayer:
    """Read one layer of a GIS file into a GeoDataFrame.

    Parameters
    ----------
    path
        A ``.gpkg``, ``.shp`` (with its sidecar files), ``.zip`` (holding a shapefile or one
        of the other formats), ``.geojson``/``.json``, ``.fgb`` or ``.dxf`` file.
    layer
        The layer to read when the file holds several (GeoPackage, or a zip of shapefiles).
    crs
        The CRS of the coordinates, when the file has none (DXF, a shapefile without
        ``.prj``) or declares a wrong one. It is assigned, not reprojected to.
    encoding
        The text encoding, e.g. ``"gbk"``; overrides a shapefile's ``.cpg``.
    display_name
        The file name to show in reports (defaults to the path's name).
    limits
        The largest zip, layer and geometries accepted (:mod:`geodata.limits`).

    Returns
    -------
    SourceLayer
        The frame in the file's (or the given) CRS; undecodable text is listed in
        ``undecodable`` with its feature index and field, never silently garbled.

    Raises
    ------
    LayerReadError
        If the format is not supported, the file cannot be opened, the layer does not
        exist or must be chosen, or the encoding is unknown.
    MissingCRSError
        If the layer has no CRS and ``crs`` is not given.
    LimitExceededError
        If the zip, the layer or one of its geometries is larger than ``limits`` allow.
    """
    path = Path(path)
    shown = display_name or path.name
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return _load_zip(path, layer=layer, crs=crs, encoding=encoding, shown=shown, limits=limits)
    driver = READ_FORMATS.get(suffix)
    if driver is None:
        msg = (
            f"{shown}: unsupported file type {suffix or '(none)'}; supported are "
            f"{', '.join(sorted({*READ_FORMATS, '.zip'}))}"
        )
        raise LayerReadError(msg)
    if not path.exists():
        msg = f"{shown}: no such file"
        raise LayerReadError(msg)
    if encoding is not None:
        encoding = _codec_name(encoding, shown)
    layer = _choose_layer(path, layer, driver, shown)
    if driver != "DXF":
        # before reading: a layer of a million features is refused without loading it
        check_features(shown, _feature_count(path, layer), limits)
    notes: tuple[str, ...] = ()
    if driver == "ESRI Shapefile":
        frame, used, problems = _read_shapefile(path, encoding, shown)
    elif driver == "DXF":
        # ezdxf, not GDAL: see geodata/dxf.py for why
        drawing = read_dxf(path, shown=shown, encoding=encoding)
        frame, used, problems = drawing.frame, drawing.encoding, []
        note = drawing.note()
        notes = (note,) if note else ()
    else:
        frame, used, problems = _read_other(path, layer, encoding, shown)
    check_features(shown, len(frame), limits)
    check_geometries(shown, frame.geometry.to_numpy(), limits)
    given = parse_crs(crs) if crs is not None else None
    if given is not None:
        if frame.crs is not None and not given.equals(frame.crs):
            logger.warning(
                "%s: file CRS %s replaced by the caller's %s",
                shown,
                crs_label(frame.crs),
                crs_label(given),
            )
        frame = frame.set_crs(given, allow_override=True)
    elif frame.crs is None:
        hint = " (DXF files never carry one)" if driver == "DXF" else ""
        msg = (
            f"{shown}{_layer_suffix(layer)}: the layer has no CRS{hint}; name the CRS of "
            "its coordinates, e.g. crs='EPSG:4552'"
        )
        raise MissingCRSError(msg)
    logger.info(
        "read %s%s: %d features, %s, %s",
        shown,
        _layer_suffix(layer),
        len(frame),
        driver,
        crs_label(frame.crs),
    )
    return SourceLayer(
        frame=frame,
        file=shown,
        layer=layer,
        driver=driver,
        source_crs=crs_label(frame.crs),
        encoding=used,
        crs_from_caller=given is not None,
        undecodable=tuple(problems),
        notes=notes,
    )


def save_layer(
    frame: gpd.GeoDataFrame,
    path: str | Path,
    *,
    layer: str | None = None,
    encoding: str | None = None,
) -> Path:
    """Write a frame as GeoPackage, GeoJSON, FlatGeobuf, DXF or Shapefile (by suffix).

    GeoJSON is written as RFC 7946 (WGS 84 longitude/latitude) when the frame is in
    EPSG:4326, else with the legacy ``crs`` member so the CRS is not lost. DXF keeps only
    geometry and the DXF ``Layer`` (from ``layer``, or a ``Layer`` column); it has no CRS.

    Raises
    ------
    LayerReadError
        If the suffix names no writable format.
    MissingCRSError
        If the frame has no CRS.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    driver = WRITE_FORMATS.get(suffix) or ("ESRI Shapefile" if suffix == ".shp" else None)
    if driver is None:
        msg = f"{path.name}: cannot write {suffix or '(none)'}; use one of .gpkg, .geojson, .dxf"
        raise LayerReadError(msg)
    if frame.crs is None:
        msg = f"{path.name}: the frame has no CRS; set one before saving"
        raise MissingCRSError(msg)
    options: dict[str, Any] = {}
    if driver == "DXF":
        out = gpd.GeoDataFrame(geometry=frame.geometry.to_numpy(), crs=frame.crs)
        out["Layer"] = frame["Layer"].to_numpy() if "Layer" in frame else (layer or "0")
        pyogrio.write_dataframe(out, path, driver=driver)
        return path
    if driver == "ESRI Shapefile" and encoding is not None:
        options["encoding"] = encoding
    if driver == "GPKG" and layer is not None:
        options["layer"] = layer
    pyogrio.write_dataframe(frame, path, driver=driver, **options)
    return path


def _reason(exc: Exception, path: Path) -> str:
    """GDAL's message without the server's paths and without its advice to the admin.

    >>> _reason(ValueError("/tmp/x1/a.gpkg: not recognized as a supported file format. "
    ...     "It might help to specify the correct driver explicitly"), Path("/tmp/x1/a.gpkg"))
    'a.gpkg: not recognized as a supported file format'
    """
    text = str(exc).replace(str(path), path.name).replace(str(path.parent) + "/", "")
    text = re.sub(r"(/[^\s'\"]+)+/([^/\s'\"]+)", r"\2", text)  # any other absolute path
    text = re.split(r"\.?\s*It might help\b", text)[0]
    return text.strip().rstrip(".")


def _layer_suffix(layer: str | None) -> str:
    return f", layer {layer!r}" if layer else ""


def _choose_layer(path: Path, layer: str | None, driver: str, shown: str) -> str | None:
    if driver != "GPKG":
        return layer if driver != "ESRI Shapefile" else path.stem
    names = list_layers(path)
    if layer is None:
        if len(names) == 1:
            return names[0]
        msg = f"{shown} holds {len(names)} layers; choose one with layer=: {', '.join(names)}"
        raise LayerReadError(msg)
    if layer not in names:
        msg = f"{shown} has no layer {layer!r}; its layers are {', '.join(names) or '(none)'}"
        raise LayerReadError(msg)
    return layer


def _read(path: Path, shown: str, **kwargs: Any) -> gpd.GeoDataFrame:
    try:
        return pyogrio.read_dataframe(path, **kwargs)
    except (DataSourceError, DataLayerError) as exc:
        msg = f"{shown}: 无法读取 / cannot read ({_reason(exc, path)})"
        raise LayerReadError(msg) from exc


def _read_shapefile(
    path: Path, encoding: str | None, shown: str
) -> tuple[gpd.GeoDataFrame, str | None, list[TextProblem]]:
    """Read raw bytes (latin-1 maps bytes 1:1), then decode each text with the right codec."""
    codec = encoding or _cpg_codec(path, shown)
    if codec is None and _dbf_language_id(path):
        # no .cpg but the DBF header names a code page: GDAL knows the mapping
        return _read(path, shown), None, []
    codec = codec or "utf-8"
    frame = _read(path, shown, encoding="ISO-8859-1")
    frame, problems = _decode_columns(frame, codec)
    return frame, codec, problems


def _read_other(
    path: Path, layer: str | None, encoding: str | None, shown: str
) -> tuple[gpd.GeoDataFrame, str | None, list[TextProblem]]:
    options: dict[str, Any] = {"layer": layer} if layer is not None else {}
    if encoding is None:
        try:
            return _read(path, shown, **options), None, []
        except UnicodeDecodeError:
            # the file is not the UTF-8 its format requires: find the bad values
            encoding = "utf-8"
    frame = _read(path, shown, encoding="ISO-8859-1", **options)
    frame, problems = _decode_columns(frame, encoding)
    return frame, encoding, problems


def _decode_columns(
    frame: gpd.GeoDataFrame, codec: str
) -> tuple[gpd.GeoDataFrame, list[TextProblem]]:
    problems: list[TextProblem] = []
    renames: dict[str, str] = {}
    for name in frame.columns:
        if name == frame.geometry.name:
            continue
        text, ok = _decode_field_name(name, codec)
        if not ok:
            problems.append(TextProblem(None, text, text, codec))
        renames[name] = text
    columns: dict[str, pd.Series] = {}
    for name in frame.columns:
        series = frame[name]
        if name == frame.geometry.name or not _is_text(series):
            continue
        values = series.to_numpy(dtype=object)
        decoded = []
        for index, value in enumerate(values):
            if not isinstance(value, str):
                decoded.append(value)
                continue
            text, ok = _decode(value, codec)
            if not ok:
                problems.append(TextProblem(index, renames[name], text, codec))
            decoded.append(text)
        columns[name] = pd.Series(decoded, index=frame.index, dtype=object)
    if columns:
        frame = frame.assign(**columns)
    return frame.rename(columns=renames), problems


def _decode_field_name(name: str, codec: str) -> tuple[str, bool]:
    """Decode a field name; a DBF cuts names at 10 bytes, maybe inside a character.

    The cut character's leading bytes are dropped: UTF-8 ``管线类型`` arrives as ``管线类``
    plus one stray byte.
    """
    text, ok = _decode(name, codec)
    raw = name.encode("latin-1")
    if ok or len(raw) < DBF_NAME_BYTES:
        return text, ok
    for cut in range(1, 4):
        try:
            return raw[:-cut].decode(codec), True
        except UnicodeDecodeError:
            continue
    return text, ok


def _decode(value: str, codec: str) -> tuple[str, bool]:
    raw = value.encode("latin-1")
    try:
        return raw.decode(codec), True
    except UnicodeDecodeError:
        return raw.decode(codec, errors="replace"), False


def _is_text(series: pd.Series) -> bool:
    return bool(pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series))


def _codec_name(name: str, shown: str) -> str:
    text = name.strip()
    text = text.removeprefix("ANSI ").removeprefix("ansi ").strip()
    text = _CPG_NUMBERS.get(text, f"cp{text}" if text.isdigit() else text)
    try:
        return codecs.lookup(text).name
    except LookupError as exc:
        msg = f"{shown}: unknown text encoding {name!r} (e.g. 'utf-8', 'gbk', 'gb18030')"
        raise LayerReadError(msg) from exc


def _cpg_codec(path: Path, shown: str) -> str | None:
    for cpg in (path.with_suffix(".cpg"), path.with_suffix(".CPG")):
        if cpg.exists():
            declared = cpg.read_bytes().decode("ascii", errors="replace").strip()
            return _codec_name(declared, f"{shown} (.cpg)") if declared else None
    return None


def _dbf_language_id(path: Path) -> int:
    for dbf in (path.with_suffix(".dbf"), path.with_suffix(".DBF")):
        if dbf.exists():
            with dbf.open("rb") as handle:
                header = handle.read(32)
            return header[29] if len(header) > 29 else 0
    return 0


def _feature_count(path: Path, layer: str | None) -> int:
    """The feature count the file declares (0 when the driver does not know it cheaply)."""
    try:
        count = int(pyogrio.read_info(path, layer=layer)["features"])
    except (DataSourceError, DataLayerError, UnicodeDecodeError):
        return 0  # the read that follows names the problem
    return max(count, 0)


def _load_zip(
    path: Path,
    *,
    layer: str | None,
    crs: Any,
    encoding: str | None,
    shown: str,
    limits: ImportLimits,
) -> SourceLayer:
    with tempfile.TemporaryDirectory(prefix="cotrench-zip-") as tmp:
        members = _zip_members(path, tmp, limits, shown)
        if not members:
            msg = f"{shown}: the zip holds no .shp, .gpkg, .geojson, .fgb or .dxf file"
            raise LayerReadError(msg)
        chosen = members
        if len(members) > 1 and layer is not None:
            chosen = [m for m in members if Path(m).stem == layer or Path(m).name == layer]
            layer_in_file = None
        else:
            layer_in_file = layer
        if len(chosen) != 1:
            names = ", ".join(Path(m).stem for m in members)
            msg = f"{shown} holds several layers; choose one with layer=: {names}"
            raise LayerReadError(msg)
        inner = Path(tmp) / chosen[0]
        loaded = load_layer(
            inner,
            layer=layer_in_file if inner.suffix.lower() == ".gpkg" else None,
            crs=crs,
            encoding=encoding,
            display_name=f"{shown}!{chosen[0]}",
            limits=limits,
        )
    return loaded


def _zip_members(
    path: Path, into: str, limits: ImportLimits = DEFAULT_LIMITS, shown: str | None = None
) -> list[str]:
    """Unpack the zip into ``into``; return the data files' names, decoded.

    Windows' zip tools store member names in the local code page (GBK in China) without
    the UTF-8 flag, and Python reads those as cp437: such names are decoded again. The
    member count and the unpacked size are limited (zip bombs): by the sizes the zip
    declares first, then by the bytes really written.
    """
    shown = shown or path.name
    names: list[str] = []
    written = 0
    try:
        with zipfile.ZipFile(path) as archive:
            infos = [i for i in archive.infolist() if not i.filename.startswith("__MACOSX/")]
            check_zip(shown, [i.file_size for i in infos], limits)
            root = Path(into).resolve()
            for info in infos:
                name = _member_name(info)
                target = (root / name).resolve()
                if not target.is_relative_to(root):
                    msg = f"{path.name}: member {name!r} points outside the archive; refused"
                    raise LayerReadError(msg)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, target.open("wb") as out:
                    written = copy_limited(src, out, file=shown, written=written, limits=limits)
                names.append(name)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        msg = f"{path.name}: not a valid zip file ({exc})"
        raise LayerReadError(msg) from exc
    return sorted(n for n in names if Path(n).suffix.lower() in READ_FORMATS)


def _member_name(info: zipfile.ZipInfo) -> str:
    if info.flag_bits & _ZIP_UTF8_FLAG:
        return info.filename
    raw = info.filename.encode("cp437")
    for codec in ("utf-8", "gb18030"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return info.filename
