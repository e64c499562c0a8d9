"""How large an imported file may be: the limits, and the checks that apply them.

A city's service reads files from many hands; without limits one upload can fill the
disk (a 2 MB zip unpacking to 1.9 GiB) or the memory (a line of a million vertices). The
limits are plain values (the service fills them from its settings); every check raises
:class:`~geodata.errors.LimitExceededError` naming the limit, the value and, for a
feature, which one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

import numpy as np
import shapely

from geodata.errors import LimitExceededError

__all__ = ["DEFAULT_LIMITS", "ImportLimits", "check_features", "check_geometries", "copy_limited"]

_MiB = 1024 * 1024


@dataclass(frozen=True)
class ImportLimits:
    """The largest file a layer import accepts.

    Attributes
    ----------
    unzipped_bytes
        Total size of a zip's members once unpacked (counted while unpacking: a zip's
        declared sizes may lie).
    zip_members
        Number of members of a zip (a shapefile set is four to eight).
    features
        Features in one layer.
    vertices_per_feature
        Coordinates of one geometry.
    vertices
        Coordinates of the whole layer.
    """

    unzipped_bytes: int = 512 * _MiB
    zip_members: int = 200
    features: int = 250_000
    vertices_per_feature: int = 100_000
    vertices: int = 10_000_000


DEFAULT_LIMITS = ImportLimits()


def _refuse(
    what_zh: str, what_en: str, limit: str, value: int, allowed: int, **where: object
) -> LimitExceededError:
    msg = f"{what_zh}超过上限 {allowed:,} / {what_en} exceeds the limit of {allowed:,}: {value:,}"
    detail: dict[str, object] = {"limit": limit, "allowed": allowed, "value": value, **where}
    return LimitExceededError(msg, detail)


def check_zip(file: str, sizes: Sequence[int], limits: ImportLimits = DEFAULT_LIMITS) -> None:
    """Refuse a zip whose member count or declared unpacked size exceeds the limits.

    >>> check_zip("a.zip", [10, 20])
    >>> check_zip("a.zip", [600 * 1024**2])
    Traceback (most recent call last):
    ...
    geodata.errors.LimitExceededError: a.zip: 解压后大小超过上限 536,870,912 ...
    """
    if len(sizes) > limits.zip_members:
        raise _refuse(
            f"{file}: 压缩包文件数",
            f"{file}: the number of zip members",
            "zip_members",
            len(sizes),
            limits.zip_members,
            file=file,
        )
    total = int(sum(sizes))
    if total > limits.unzipped_bytes:
        raise _unzipped(file, total, limits)


def _unzipped(file: str, total: int, limits: ImportLimits) -> LimitExceededError:
    return _refuse(
        f"{file}: 解压后大小",
        f"{file}: the unzipped size (bytes)",
        "unzipped_bytes",
        total,
        limits.unzipped_bytes,
        file=file,
    )


def copy_limited(
    src: IO[bytes], out: IO[bytes], *, file: str, written: int, limits: ImportLimits
) -> int:
    """Copy ``src`` to ``out`` counting bytes; refuse once the zip's total passes the limit.

    ``written`` is what the zip's earlier members already took; returns the new total.
    """
    while chunk := src.read(1024 * 1024):
        written += len(chunk)
        if written > limits.unzipped_bytes:
            raise _unzipped(file, written, limits)
        out.write(chunk)
    return written


def check_features(file: str, count: int, limits: ImportLimits = DEFAULT_LIMITS) -> None:
    """Refuse a layer with more features than the limit (checked before it is read)."""
    if count > limits.features:
        raise _refuse(
            f"{file}: 要素数",
            f"{file}: the number of features",
            "features",
            count,
            limits.features,
            file=file,
        )


def check_geometries(
    file: str, geometries: np.ndarray, limits: ImportLimits = DEFAULT_LIMITS
) -> None:
    """Refuse a layer with a geometry of too many vertices, or too many in all.

    The feature is named by its position in the file (0-based, as the validation report).
    """
    counts = shapely.get_num_coordinates(geometries)
    if len(counts) == 0:
        return
    worst = int(np.argmax(counts))
    if counts[worst] > limits.vertices_per_feature:
        raise _refuse(
            f"{file}: 第 {worst} 个要素的顶点数",
            f"{file}: feature {worst} has more vertices than allowed;",
            "vertices_per_feature",
            int(counts[worst]),
            limits.vertices_per_feature,
            file=file,
            feature=worst,
        )
    total = int(counts.sum())
    if total > limits.vertices:
        raise _refuse(
            f"{file}: 图层顶点总数",
            f"{file}: the layer's vertices",
            "vertices",
            total,
            limits.vertices,
            file=file,
        )
