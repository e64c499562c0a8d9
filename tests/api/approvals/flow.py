"""Drive the approval flow over HTTP, each step by a user of the right role (test helper)."""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.approvals.identity import check_credit_code
from api.catalogue import label
from api.services.colocation import import_proposals
from geodata.db import session_scope
from tests.helpers import read_sample

PREFIX = "/approvals"
# the sample projects whose lines run along 宣信街 (P05's plus water, so water-1 sees it too)
PROJECT_UTILITIES = {
    "P03": ("water", "power", "gas", "drainage"),
    "P05": ("water", "gas", "drainage"),
}
# 宣信街 is closed to digging until 2027-07-26 (synthetic) and the sample block has no way
# round it: plans are made for works after that
AFTER_PROTECTION = "2027-08-01"
# the city the approval tests file their applications in (made by tests/api/approvals/conftest)
CITY = "approvals_harbin"
SITE: dict[str, Any] = {
    "type": "Polygon",
    "coordinates": [
        [
            [126.6510, 45.7545],
            [126.6530, 45.7545],
            [126.6530, 45.7560],
            [126.6510, 45.7560],
            [126.6510, 45.7545],
        ]
    ],
}
CITY_DEPARTMENTS = ("cgj", "jjzd", "zrzyj", "zjj")
DISTRICT = "南岗区"
DISTRICT_CODE = "dist-nangang"
COMPANY_FOR = {
    "water": "water-1",
    "power": "power-1",
    "heat": "heat-1",
    "gas": "gas-1",
    "drainage": "drainage-1",
    "telecom": "telecom-2",
}
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code(first17: str) -> str:
    """Complete a synthetic unified social credit code with its GB 32100 check character."""
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return check_credit_code(first17 + _USCC_ALPHABET[(31 - total % 31) % 31])


APPLICANT_CODE = credit_code("91230103MA1ABCDE0")  # synthetic, valid checksum


def demand(utility: str) -> dict[str, Any]:
    point = {
        "lon": 126.6521,
        "lat": 45.7551,
        "description": f"{label('utility', utility, lang='zh')}接入点",
    }
    fields: dict[str, dict[str, Any]] = {
        "water": {"flow_m3_per_day": 120.0, "diameter_mm": 100},
        "power": {"load_kw": 630.0, "voltage_kv": 10},
        "heat": {"load_kw": 1500.0, "diameter_mm": 150},
        "gas": {"flow_m3_per_h": 40.0, "diameter_mm": 50},
        "drainage": {"flow_m3_per_day": 100.0, "diameter_mm": 300},
        "telecom": {"bandwidth_mbps": 1000.0, "duct_count": 4},
    }
    return {"utility": utility, "connection_point": point, **fields[utility]}


def form(
    utilities: tuple[str, ...] = ("water", "power", "gas"), **overrides: Any
) -> dict[str, Any]:
    body = {
        "project_name": "示例小区二期 (测试)",
        "project_code": "2026-230103-47-01-000001",
        "city": CITY,
        "district": DISTRICT,
        "site": SITE,
        "applicant": {
            "kind": "organisation",
            "name": "示例置业有限公司",
            "credit_code": APPLICANT_CODE,
            "phone": "13800138000",
        },
        "responsible_person": {"name": "王工", "phone": "0451-86123456"},
        "commitment": False,
        "acceptance_mode": "joint",
        "demands": [demand(u) for u in utilities],
        "attachments": [
            {
                "filename": "site_plan.txt",
                "content_type": "text/plain",
                "content_base64": base64.b64encode("总平面图".encode()).decode(),
            }
        ],
    }
    body.update(overrides)
    return body


def route(offset_m: float = 0.0) -> dict[str, Any]:
    """A two-road shared-trench route in EPSG:32652 (Harbin's UTM zone)."""
    x0, y0 = 687000.0 + offset_m, 5070000.0
    return {
        "crs": "EPSG:32652",
        "geojson": {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"road": "西大直街"},
                    "geometry": {"type": "LineString", "coordinates": [[x0, y0], [x0 + 120.0, y0]]},
                },
                {
                    "type": "Feature",
                    "properties": {"road": "红军街"},
                    "geometry": {
                        "type": "LineString",
                        "coordinates": [[x0 + 120.0, y0], [x0 + 120.0, y0 + 80.0]],
                    },
                },
            ],
        },
        "quantities": {"trench_length_m": 200.0},
    }


class Flow:
    """One application's way through the flow; every call checks its expected status."""

    def __init__(
        self,
        client: TestClient,
        tokens: dict[str, str],
        *,
        city: str = CITY,
        site: dict[str, Any] | None = None,
    ) -> None:
        self.client = client
        self.tokens = tokens
        self.where = {"city": city, "site": site or SITE}  # where its applications are

    def h(self, user: str, key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"}
        if key:
            headers["Idempotency-Key"] = key
        return headers

    def call(
        self,
        user: str,
        method: str,
        path: str,
        json: Any = None,
        *,
        key: str | None = None,
        expect: int | None = 200,
    ) -> Any:
        r = self.client.request(method, PREFIX + path, json=json, headers=self.h(user, key))
        if expect is not None:
            assert r.status_code == expect, (method, path, user, r.status_code, r.text)
        json_types = ("application/json", "application/problem+json")
        return r.json() if r.headers.get("content-type", "").startswith(json_types) else r

    # ------------------------------------------------------------ stages
    def submit(self, **kw: Any) -> dict[str, Any]:
        return self.call(
            "applicant", "POST", "/applications", form(**{**self.where, **kw}), expect=201
        )

    def accept(self, app: dict[str, Any]) -> dict[str, Any]:
        companies = {d["utility"]: COMPANY_FOR[d["utility"]] for d in app["demands"]}
        return self.call(
            "acceptor",
            "POST",
            f"/applications/{app['id']}/accept",
            {
                "companies": companies,
                "coordinator_id": self.user_id("coordinator"),
                "version": app["version"],
            },
        )

    def user_id(self, user: str) -> int:
        """The id of a demo user (the 负责人 is named: other tests make responsible persons too)."""
        return int(self.call(user, "GET", "/me")["id"])

    def accept_dispatches(self, app: dict[str, Any]) -> dict[str, Any]:
        for d in app["dispatches"]:
            self.call(
                f"{d['company_code']}-staff",
                "POST",
                f"/dispatches/{d['id']}/accept",
                {
                    "agreement": {
                        "agreement_no": f"WT-{d['id']}",
                        "signed_on": "2026-11-25",
                        "amount_cny": 1000.0,
                    }
                },
            )
        return self.read(app["id"])

    def survey_users(self, app: dict[str, Any]) -> list[str]:
        return [f"{c}-clerk" for c in (*CITY_DEPARTMENTS, DISTRICT_CODE)] + [
            f"{d['company_code']}-staff" for d in app["dispatches"]
        ]

    def opinions(self, app: dict[str, Any], skip: tuple[str, ...] = ()) -> None:
        for user in self.survey_users(app):
            if user not in skip:
                self.call(
                    user,
                    "POST",
                    f"/applications/{app['id']}/opinions",
                    {"opinion": "同意路由, 注意既有管线", "agrees": True},
                    expect=201,
                )

    def fix_route(
        self, app: dict[str, Any], user: str = "coordinator", **kw: Any
    ) -> dict[str, Any]:
        return self.call(
            user, "POST", f"/applications/{app['id']}/routes", {**route(), **kw}, expect=201
        )

    def propose(self, app: dict[str, Any], project: str) -> None:
        """The companies' designers submit the sample project's lines for the application."""
        sample = read_sample("proposed_lines")
        lines = sample[sample["id"].str.startswith(f"{project}-")]
        state = self.client.app.state  # type: ignore[attr-defined]
        with tempfile.TemporaryDirectory(prefix="cotrench-test-") as tmp:
            path = Path(tmp) / f"{project}.gpkg"
            lines.to_file(path, layer="proposed_lines")
            with session_scope(state.engine) as session:
                import_proposals(
                    session, state.graphs, path, city=self.where["city"], application_id=app["id"]
                )

    def proposed(self, project: str, **kw: Any) -> dict[str, Any]:
        """A new application in the joint survey (opinions in) with the project's lines."""
        app = self.to_status("surveying", utilities=PROJECT_UTILITIES[project], **kw)
        self.opinions(app)
        self.propose(app, project)
        return app

    def plan(self, app: dict[str, Any], user: str = "coordinator") -> dict[str, Any]:
        """Plan the application's route from its proposals; the planning run."""
        return self.call(
            user,
            "POST",
            f"/applications/{app['id']}/plans",
            {"on_date": AFTER_PROTECTION, "time_limit_s": 10},
            expect=201,
        )

    def permits(self, app_id: int) -> list[dict[str, Any]]:
        return self.call("acceptor", "GET", f"/permits?application_id={app_id}")

    def approve(self, permit: dict[str, Any], outcome: str = "approved") -> dict[str, Any]:
        code = permit["department_code"]
        p = self.call(
            f"{code}-clerk",
            "POST",
            f"/permits/{permit['id']}/review",
            {"recommendation": outcome, "comment": "材料齐全", "version": permit["version"]},
        )
        body: dict[str, Any] = {"outcome": outcome, "version": p["version"]}
        if outcome == "approved_with_conditions":
            body["conditions"] = "夜间施工, 当日回填"
        return self.call(f"{code}-chief", "POST", f"/permits/{permit['id']}/decide", body)

    def acceptance(
        self,
        app: dict[str, Any],
        utility: str,
        *,
        user: str | None = None,
        passed: bool = True,
        pressure_passed: bool | None = True,
        mode: str = "joint",
        utilities: list[str] | None = None,
        expect: int = 201,
    ) -> Any:
        """Record ``utility``'s acceptance, by its company's staff unless ``user`` is named."""
        body: dict[str, Any] = {
            "mode": mode,
            "utilities": utilities or [utility],
            "passed": passed,
            "inspection": {"管材": "合格" if passed else "不合格", "埋深": "合格"},
            "opinion": "验收合格, 同意接通" if passed else "压力试验压降超标, 整改后复验",
        }
        if pressure_passed is not None:
            body["pressure_test"] = {
                "test_pressure_mpa": 0.9,
                "duration_min": 30,
                "pressure_drop_mpa": 0.01 if pressure_passed else 0.2,
                "passed": pressure_passed,
            }
        if passed:
            body["appointment_at"] = "2027-08-20T09:00:00+08:00"
        return self.call(
            user or f"{COMPANY_FOR[utility]}-staff",
            "POST",
            f"/applications/{app['id']}/acceptances",
            body,
            expect=expect,
        )

    def read(self, app_id: int, user: str = "acceptor") -> dict[str, Any]:
        return self.call(user, "GET", f"/applications/{app_id}")

    def to_status(self, status: str, **kw: Any) -> dict[str, Any]:
        """A new application driven to ``status`` (submitted ... acceptance)."""
        app = self.submit(**kw)
        order = ["submitted", "dispatched", "surveying", "permitting", "construction", "acceptance"]
        target = order.index(status)
        if target >= 1:
            app = self.accept(app)
        if target >= 2:
            app = self.accept_dispatches(app)
        if target >= 3:
            self.opinions(app)
            self.fix_route(app)
        if target >= 4:
            for p in self.permits(app["id"]):
                self.approve(p)
            self.call(
                f"{app['dispatches'][0]['company_code']}-staff",
                "POST",
                f"/applications/{app['id']}/construction/start",
                {},
            )
        if target >= 5:
            self.call("coordinator", "POST", f"/applications/{app['id']}/construction/finish", {})
        app = self.read(app["id"])
        assert app["status"] == status, app
        return app
