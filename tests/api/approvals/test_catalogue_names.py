"""Every code a person could read is named in the one catalogue (api/catalogue.py)."""

from __future__ import annotations

from enum import StrEnum

import pytest

from api.approvals import enums
from api.approvals.transitions import TRANSITIONS
from api.catalogue import CATALOGUE

KIND_OF: dict[str, type[StrEnum]] = {
    "utility": enums.Utility,
    "role": enums.Role,
    "status": enums.ApplicationStatus,
    "permit_status": enums.PermitStatus,
    "stage": enums.Stage,
    "permit_type": enums.PermitType,
    "acceptance_mode": enums.AcceptanceMode,
    "dispatch_status": enums.DispatchStatus,
    "applicant_kind": enums.ApplicantKind,
    "entity": enums.EntityKind,
}


@pytest.mark.parametrize("kind", sorted(KIND_OF))
def test_every_enum_value_is_named(kind: str) -> None:
    missing = [v.value for v in KIND_OF[kind] if v.value not in CATALOGUE[kind]]
    assert not missing, (kind, missing)


def test_every_audited_action_is_named() -> None:
    actions = {a for table in TRANSITIONS.values() for steps in table.values() for a in steps}
    actions |= {"submit", "open", "record_opinion", "amend_opinion", "ask"}
    missing = sorted(actions - set(CATALOGUE["action"]))
    assert not missing, missing


def test_titles_come_from_the_catalogue() -> None:
    assert enums.PERMIT_TITLES[enums.PermitType.pipeline_attachment] == (
        "依附于城市道路建设各种管线、杆线等审批"  # the reform plan's words
    )
    assert all(enums.STAGE_TITLES[s] == CATALOGUE["stage"][s][0] for s in enums.Stage)
