"""A city's base layers under its data administrator: import, replace, delete, with history.

Each step is one transaction and one row of the append-only audit log (entity ``layer``):
who, when, which file (name and SHA-256), how many features, and for a replacement which
layer took the place of which. A deleted layer's features are gone; its history stays, so
an auditor can still tell which survey the planners used on a given day. The road graph
follows by itself (:mod:`api.services.graphs` watches the layers table); its pgRouting
topology is written again in the same transaction (:mod:`api.services.topology`).

Proposed lines are a company's submissions (:mod:`api.services.colocation`), not base
data: they are not replaced or deleted here.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.approvals.enums import EntityKind
from api.approvals.errors import PreconditionError
from api.approvals.models import AuditLog
from api.approvals.models import User
from api.approvals.transitions import record_event
from api.services.topology import GRAPH_KINDS
from api.services.topology import store_topology
from geodata import storage
from geodata.importer import ImportResult
from geodata.importer import import_layer
from geodata.storage import ONCE_KINDS
from geodata.storage import LayerInfo
from geodata.tables import City

__all__ = ["delete_city_layer", "import_city_layer", "layer_history", "replace_city_layer"]


def import_city_layer(
    session: Session, actor: User, path: Path, *, kind: str, city: str, **options: Any
) -> ImportResult:
    """Import a file as a layer of ``city`` (:func:`geodata.importer.import_layer`), recorded."""
    result = import_layer(session, path, kind=kind, city=city, **options)
    _record(session, actor, result.layer, "layer_imported", sha256=result.layer.source_sha256)
    _roads_changed(session, result.layer)
    return result


def replace_city_layer(
    session: Session, actor: User, layer_id: int, path: Path, *, reason: str | None, **options: Any
) -> ImportResult:
    """Import a new survey of a base layer and delete the old one, in one transaction.

    The new layer keeps the old one's city and kind (and its name unless another is given).

    Raises
    ------
    LayerNotFoundError
        If there is no such layer.
    PreconditionError
        If it is not base data (proposed lines are withdrawn by their company).
    DuplicateLayerError, LayerValidationError, LimitExceededError, LayerReadError
        If the new file is refused: the old layer stays.
    """
    old = _base_layer(session, layer_id)
    options.setdefault("name", old.name)
    result = import_layer(session, path, kind=old.kind, city=old.city, **options)
    storage.delete_layer(session, old.id)
    _record(
        session,
        actor,
        result.layer,
        "layer_replaced",
        reason=reason,
        sha256=result.layer.source_sha256,
        replaces=old.id,
        replaced_file=old.source_file,
        replaced_feature_count=old.feature_count,
    )
    _record(
        session,
        actor,
        old,
        "layer_deleted",
        reason=reason,
        sha256=old.source_sha256,
        replaced_by=result.layer.id,
    )
    _roads_changed(session, result.layer)
    return result


def delete_city_layer(session: Session, actor: User, layer_id: int, *, reason: str) -> LayerInfo:
    """Delete a base layer and its features; the history keeps what it was.

    Raises
    ------
    LayerNotFoundError, PreconditionError
        As :func:`replace_city_layer`.
    """
    old = _base_layer(session, layer_id)
    storage.delete_layer(session, old.id)
    _record(session, actor, old, "layer_deleted", reason=reason, sha256=old.source_sha256)
    _roads_changed(session, old)
    return old


def layer_history(
    session: Session, city: str, *, layer_id: int | None = None, limit: int = 500
) -> list[AuditLog]:
    """The city's layer events, newest first (one layer's, when ``layer_id`` is given)."""
    city_id = storage.get_city(session, city).id
    query = (
        select(AuditLog)
        .where(AuditLog.entity_kind == EntityKind.layer.value)
        .where(AuditLog.data["city_id"].as_integer() == city_id)
        .order_by(AuditLog.id.desc())
        .limit(limit)
    )
    if layer_id is not None:
        query = query.where(AuditLog.entity_id == layer_id)
    return list(session.scalars(query))


def _roads_changed(session: Session, layer: LayerInfo) -> None:
    if layer.kind in GRAPH_KINDS:
        store_topology(session, layer.city)


def _base_layer(session: Session, layer_id: int) -> LayerInfo:
    layer = storage.get_layer(session, layer_id)
    if layer.kind not in ONCE_KINDS:
        msg = (
            f"图层 {layer_id} 为设计管线，由其管线单位撤回 / layer {layer_id} holds proposed "
            "lines: the utility company withdraws them, the data administrator does not"
        )
        raise PreconditionError(msg, [layer.kind])
    return layer


def _record(session: Session, actor: User, layer: LayerInfo, action: str, **data: Any) -> AuditLog:
    city_id = session.scalar(select(City.id).where(City.name == layer.city))
    reason = data.pop("reason", None)
    return record_event(
        session=session,
        actor=actor,
        now=dt.datetime.now(dt.UTC),
        kind=EntityKind.layer,
        entity_id=layer.id,
        application_id=None,
        action=action,
        reason=reason,
        data={
            "city": layer.city,
            "city_id": city_id,
            "kind": layer.kind,
            "name": layer.name,
            "source_file": layer.source_file,
            "source_layer": layer.source_layer,
            "feature_count": layer.feature_count,
            **{k: v for k, v in data.items() if v is not None},
        },
    )
