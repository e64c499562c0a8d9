"""Read the trench optimiser's stored plan behind a fixed route and derive the permit quantities.

A route version names the stored plan it was fixed from (``plan_id``, ``plan_version``; no
foreign key: plans live in ``geodata.plan_tables``). The quantities the four permits carry
(trench length, excavation, restoration, occupation per lane, trees, crossings) come from
the cross-section work in :mod:`routing.quantities`, through
:func:`routing.plan_sections.quantities_for_plan`.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from api.approvals.errors import FormValidationError
from geodata.plan_tables import TrenchPlanRow
from routing.errors import RoutingError
from routing.plan_sections import quantities_for_plan
from routing.results import TrenchPlan

__all__ = ["stored_plan_quantities"]

logger = logging.getLogger(__name__)


def stored_plan_quantities(
    session: Session, *, plan_id: int, plan_version: int | None
) -> dict[str, Any]:
    """Return the cross-section quantities of stored plan row ``plan_id``.

    Road widths and pavements not in the plan take the road-class defaults, which the
    result marks ``unverified``.

    Raises
    ------
    FormValidationError
        If no plan row has that id, its version is not ``plan_version``, or its quantities
        cannot be computed (the message says why).
    """
    row = session.get(TrenchPlanRow, plan_id)
    if row is None:
        raise FormValidationError([_err("plan_id", f"no stored trench plan with id {plan_id}")])
    if plan_version is not None and row.version != plan_version:
        msg = f"plan {plan_id} is version {row.version} of {row.plan_key}, not {plan_version}"
        raise FormValidationError([_err("plan_version", msg)])
    try:
        _, quantities = quantities_for_plan(TrenchPlan.from_dict(row.result))
    except (RoutingError, KeyError, TypeError, ValueError) as exc:
        msg = f"quantities of plan {plan_id} failed: {exc}"
        raise FormValidationError([_err("plan_id", msg)]) from exc
    logger.info("plan %s v%d: quantities for the permits", row.plan_key, row.version)
    return {
        "source": "routing.quantities",
        "plan_key": row.plan_key,
        "plan_version": row.version,
        **quantities.as_dict(),
    }


def _err(field: str, msg: str) -> dict[str, Any]:
    return {"loc": ["body", field], "msg": msg, "type": "value_error"}
