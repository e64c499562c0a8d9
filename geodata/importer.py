"""Import a GIS file into a city: read, validate, store, all or nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyproj import CRS
from sqlalchemy.orm import Session

from geodata.errors import CityNotFoundError
from geodata.errors import LayerReadError
from geodata.layers import SourceLayer
from geodata.layers import file_digest
from geodata.layers import list_layers
from geodata.layers import load_layer
from geodata.limits import DEFAULT_LIMITS
from geodata.limits import ImportLimits
from geodata.storage import CityInfo
from geodata.storage import LayerInfo
from geodata.storage import create_city
from geodata.storage import find_layers
from geodata.storage import get_city
from geodata.storage import read_features
from geodata.storage import refuse_duplicate
from geodata.storage import store_layer
from geodata.utilities import Vocabulary
from geodata.validate import KINDS
from geodata.validate import ValidationReport
from geodata.validate import validate_layer

__all__ = ["ImportResult", "import_layer", "load_city_package"]

logger = logging.getLogger(__name__)

# roads this far around a layer are compared with it (more than the BD-09 offset)
OFFSET_REACH_M = 3000.0
# the layer of a city package (data/<city>.gpkg) that describes the city itself
CITY_LAYER = "city"


@dataclass(frozen=True)
class ImportResult:
    """The stored layer and the report that accepted it."""

    layer: LayerInfo
    report: ValidationReport


def import_layer(
    session: Session,
    path: str | Path,
    *,
    kind: str,
    city: str,
    crs: Any = None,
    encoding: str | None = None,
    layer: str | None = None,
    name: str | None = None,
    display_name: str | None = None,
    progress: Callable[[int], None] | None = None,
    field_map: Mapping[str, str] | None = None,
    unplanned: str = "keep",
    vocabulary: Vocabulary | None = None,
    offset_from: str | None = None,
    duplicates: str = "refuse",
    limits: ImportLimits = DEFAULT_LIMITS,
) -> ImportResult:
    """Read a file, validate it for ``kind`` and store it in ``city``'s tables.

    Everything happens in the session's transaction and nothing is written before the
    whole layer has passed validation, so a refused file leaves every table as it was.
    A file the city already holds as this kind (same bytes, same source layer) is refused
    before it is read, and again at the insert when two imports of it run at once.

    Parameters
    ----------
    path
        Any file :func:`geodata.layers.load_layer` reads.
    kind
        The layer kind (``roads``, ``underground_lines``, ``trees``, ``poles``,
        ``protected_areas``, ``proposed_lines``).
    city
        The name of an existing city; features are reprojected into its metric CRS.
    crs, encoding, layer, display_name
        Passed to :func:`geodata.layers.load_layer`.
    name
        The stored layer's name (defaults to the source layer or file name).
    progress
        Called with the number of features written after each chunk.
    field_map, unplanned, vocabulary, offset_from, duplicates
        Passed to :func:`geodata.validate.validate_layer`. A line layer in lon/lat is
        also compared with the city's stored roads for the GCJ-02 and BD-09 offsets.
    limits
        The largest file accepted (:class:`geodata.limits.ImportLimits`).

    Raises
    ------
    CityNotFoundError
        If the city does not exist.
    LayerReadError
        If the file cannot be read (``MissingCRSError`` when it has no CRS).
    LayerValidationError
        If any feature is wrong; ``detail`` is the report.
    LimitExceededError
        If the file is larger than ``limits`` allow.
    DuplicateLayerError
        If the city already holds this file as ``kind``.
    """
    target = get_city(session, city)
    sha256 = file_digest(path)
    source = load_layer(
        path,
        layer=layer,
        crs=crs,
        encoding=encoding,
        display_name=display_name,
        limits=limits,
    )
    # before validating: a twin is named at once (the insert checks again, for a race)
    refuse_duplicate(session, target, kind, sha256, source.layer)
    validated = validate_layer(
        source,
        kind=kind,
        crs=target.crs,
        extent=target.extent,
        field_map=field_map,
        unplanned=unplanned,
        vocabulary=vocabulary,
        roads=_roads_near(session, source, target) if offset_from is None else None,
        offset_from=offset_from,
        duplicates=duplicates,
    )
    stored = store_layer(
        session,
        validated,
        city=target,
        source=source,
        name=name,
        progress=progress,
        sha256=sha256,
    )
    return ImportResult(layer=stored, report=validated.report)


def _roads_near(session: Session, source: SourceLayer, city: CityInfo) -> np.ndarray | None:
    """The city's road geometries around a lon/lat line layer (for the offset check)."""
    frame = source.frame
    if frame.crs is None or not CRS(frame.crs).is_geographic or frame.empty:
        return None
    if not frame.geom_type.isin(["LineString", "MultiLineString"]).any():
        return None
    with np.errstate(all="ignore"):
        bounds = frame.geometry.dropna().to_crs(city.crs).total_bounds
    if not np.isfinite(bounds).all():
        return None
    x0, y0, x1, y1 = bounds
    reach = OFFSET_REACH_M
    roads = read_features(
        session, city=city.name, kind="roads", bbox=(x0 - reach, y0 - reach, x1 + reach, y1 + reach)
    )
    return roads.geometry.to_numpy() if len(roads) else None


def load_city_package(
    session: Session,
    path: str | Path,
    *,
    progress: Callable[[str, int], Callable[[int], None] | None] | None = None,
) -> list[tuple[str, LayerInfo, bool]]:
    """Load a city package: a GeoPackage with a ``city`` layer and one layer per kind.

    The ``city`` layer holds one polygon (the extent, WGS 84) with ``name``, ``title``,
    ``crs`` and ``frost_depth_m``. Every other layer named after a kind is imported,
    unless the city already has it from the same file and layer, so loading twice adds
    nothing.

    Parameters
    ----------
    progress
        ``progress(layer_name, n_features)`` returns a per-chunk callback (or None).

    Returns
    -------
    list of (layer name, stored layer, whether it was imported now)

    Raises
    ------
    LayerReadError
        If the package has no ``city`` layer.
    LayerValidationError
        If a layer is refused.
    """
    path = Path(path)
    names = list_layers(path)
    if CITY_LAYER not in names:
        msg = f"{path.name}: a city package needs a {CITY_LAYER!r} layer (has {', '.join(names)})"
        raise LayerReadError(msg)
    city = _ensure_city(session, path)
    existing = {
        (Path(info.source_file).name, info.source_layer): info
        for info in find_layers(session, city=city.name)
    }
    done: list[tuple[str, LayerInfo, bool]] = []
    for layer in names:
        if layer not in KINDS:
            continue
        if (path.name, layer) in existing:
            done.append((layer, existing[path.name, layer], False))
            logger.info("%s: layer %s already loaded", city.name, layer)
            continue
        callback = None
        if progress is not None:
            count = len(load_layer(path, layer=layer).frame)
            callback = progress(layer, count)
        # the sample packages hold OSM extracts: twins are left out, with a warning
        result = import_layer(
            session,
            path,
            kind=layer,
            city=city.name,
            layer=layer,
            name=layer,
            progress=callback,
            duplicates="drop",
        )
        done.append((layer, result.layer, True))
    return done


def _ensure_city(session: Session, path: Path) -> CityInfo:
    frame = load_layer(path, layer=CITY_LAYER).frame.to_crs(4326)
    if len(frame) != 1:
        msg = f"{path.name}: the {CITY_LAYER!r} layer must hold exactly one feature"
        raise LayerReadError(msg)
    row = frame.iloc[0]
    try:
        return get_city(session, str(row["name"]))
    except CityNotFoundError:
        depth = row.get("frost_depth_m")
        return create_city(
            session,
            name=str(row["name"]),
            title=str(row.get("title") or row["name"]),
            crs=str(row["crs"]),
            extent=row.geometry,
            frost_depth_m=None if pd.isna(depth) else float(depth),
        )
