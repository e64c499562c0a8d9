"""Refusals between users of the same kind: a second clerk, another company, another department.

Each refusal is checked for its reason (the role, the action and why), and for changing
nothing, not only for its status.
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.approvals.models import Attachment
from tests.api.approvals.flow import PREFIX
from tests.api.approvals.flow import Flow
from tests.conftest import Users

AGREEMENT_PDF = b"%PDF-1.4 synthetic agreement: price 1,234,567.00 CNY"


def _permit(flow: Flow, app: dict[str, Any], permit_type: str) -> dict[str, Any]:
    return next(p for p in flow.permits(app["id"]) if p["permit_type"] == permit_type)


def test_a_second_clerk_cannot_make_the_chiefs_decision(flow: Flow, users: Users) -> None:
    app = flow.to_status("permitting", utilities=("water",))
    permit = _permit(flow, app, "road_excavation")  # decided by 市城管局 (cgj)
    reviewed = flow.call(
        "cgj-clerk",
        "POST",
        f"/permits/{permit['id']}/review",
        {"recommendation": "approved", "comment": "材料齐全", "version": permit["version"]},
    )
    second_clerk = users.headers("dept_clerk", organisation="cgj")
    decided = flow.client.post(
        f"{PREFIX}/permits/{permit['id']}/decide",
        json={"outcome": "approved", "version": reviewed["version"]},
        headers=second_clerk,
    )
    assert decided.status_code == 403, decided.text
    body = decided.json()
    assert (body["role"], body["action"], body["why"]) == ("dept_clerk", "decide_permit", "")
    # nor by reviewing it again: the permit waits for the chief
    again = flow.client.post(
        f"{PREFIX}/permits/{permit['id']}/review",
        json={"recommendation": "approved", "version": reviewed["version"]},
        headers=second_clerk,
    )
    assert again.status_code == 409, again.text
    assert again.json()["action"] == "review"
    after = flow.call("acceptor", "GET", f"/permits/{permit['id']}")
    assert after["status"] == "in_review"
    assert after["version"] == reviewed["version"]


def test_a_company_cannot_accept_another_companys_dispatch(flow: Flow) -> None:
    app = flow.to_status("dispatched", utilities=("water", "power"))
    water = next(d for d in app["dispatches"] if d["utility"] == "water")
    refused = flow.call(
        "power-1-staff",
        "POST",
        f"/dispatches/{water['id']}/accept",
        {"agreement": {"agreement_no": "X-1", "signed_on": "2026-11-25", "amount_cny": 1.0}},
        expect=403,
    )
    assert refused["role"] == "utility_staff"
    assert refused["action"] == "accept_dispatch"
    assert refused["why"] == "not your dispatch"
    after = next(d for d in flow.read(app["id"])["dispatches"] if d["id"] == water["id"])
    assert after["status"] == water["status"]
    assert after["accepted_at"] is None


def test_attachments_are_read_by_whom_their_object_is_for(flow: Flow) -> None:
    """A permit's sheet by its own department; a company's agreement by that company."""
    app = flow.to_status("dispatched", utilities=("water", "power"))
    water = next(d for d in app["dispatches"] if d["utility"] == "water")
    flow.call(
        "water-1-staff",
        "POST",
        f"/dispatches/{water['id']}/accept",
        {
            "agreement": {
                "agreement_no": "WT-secret",
                "signed_on": "2026-11-25",
                "amount_cny": 1234567.0,
                "attachment": {
                    "filename": "委托施工协议.pdf",
                    "content_type": "application/pdf",
                    "content_base64": base64.b64encode(AGREEMENT_PDF).decode(),
                },
            }
        },
    )
    engine = flow.client.app.state.engine  # type: ignore[attr-defined]
    with Session(engine) as session:
        agreement = session.scalars(
            select(Attachment.id).where(
                Attachment.owner_kind == "agreement", Attachment.owner_id == water["id"]
            )
        ).one()
    url = f"/attachments/{agreement}"
    assert flow.call("water-1-staff", "GET", url).content == AGREEMENT_PDF
    assert flow.call("applicant", "GET", url).content == AGREEMENT_PDF
    refused = flow.call("power-1-staff", "GET", url, expect=403)
    assert refused["action"] == "read_attachment"
    assert refused["why"] == "not your attachment"

    # on to the permits: each permit's sheet is its department's
    power = next(d for d in app["dispatches"] if d["utility"] == "power")
    flow.call(
        "power-1-staff",
        "POST",
        f"/dispatches/{power['id']}/accept",
        {"agreement": {"agreement_no": "PW-1", "signed_on": "2026-11-25"}},
    )
    flow.opinions(app)
    flow.fix_route(app)
    excavation = _permit(flow, app, "road_excavation")  # 市城管局 (cgj)
    sheet = next(a for a in excavation["attachments"] if a["filename"].startswith("sheet_"))
    sheet_url = f"/attachments/{sheet['id']}"
    own = flow.call("cgj-clerk", "GET", sheet_url)
    assert own.content.startswith(b"%PDF")
    for other in ("zjj-clerk", "jjzd-chief", "dist-nangang-clerk"):
        refused = flow.call(other, "GET", sheet_url, expect=403)
        assert refused["why"] == "not your attachment", other
    # the parties to the application read it (同步反馈 sends results to every company)
    assert flow.call("applicant", "GET", sheet_url).content == own.content
    assert flow.call("power-1-staff", "GET", sheet_url).content == own.content
    # the agreement stays the water company's, also for the departments
    assert flow.call("cgj-clerk", "GET", url, expect=403)["why"] == ("not your attachment")
