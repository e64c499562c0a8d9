"""Name the statuses, stages, roles, permit types and utilities of the joint approval flow."""

from __future__ import annotations

from enum import StrEnum

from api.catalogue import label

__all__ = [
    "PERMIT_GRANTED",
    "PERMIT_OWNER",
    "PERMIT_TITLES",
    "STAGE_TITLES",
    "STAGE_WORKING_DAYS",
    "AcceptanceMode",
    "Action",
    "ApplicantKind",
    "ApplicationStatus",
    "ConsultationStatus",
    "DepartmentKind",
    "DispatchStatus",
    "EntityKind",
    "OrganisationKind",
    "PermitStatus",
    "PermitType",
    "Role",
    "Stage",
    "Utility",
]


class Utility(StrEnum):
    """The six public services of the reform (水电热气讯 + 排水)."""

    water = "water"
    power = "power"
    heat = "heat"
    gas = "gas"
    drainage = "drainage"
    telecom = "telecom"


class Role(StrEnum):
    applicant = "applicant"
    acceptor = "acceptor"  # 综合受理人, 市城管执法局
    utility_staff = "utility_staff"  # per company
    dept_clerk = "dept_clerk"  # per department, first level
    dept_chief = "dept_chief"  # per department, second level
    responsible_person = "responsible_person"  # 项目负责人 (负责人制度), 市城管执法局
    admin = "admin"  # user administration only
    # the GIS side, each bound to one city (``User.city``)
    data_admin = "data_admin"  # 数据管理员: imports, replaces and deletes the city's base layers
    designer = "designer"  # 设计人员 of a utility company: its proposed lines and plans
    auditor = "auditor"  # 审计: reads everything of the city and the audit log, changes nothing


class OrganisationKind(StrEnum):
    department = "department"
    utility_company = "utility_company"


class DepartmentKind(StrEnum):
    city_management = "city_management"  # 市城管执法局
    traffic_police = "traffic_police"  # 市公安局交警支队
    natural_resources = "natural_resources"  # 市自然资源局
    housing_construction = "housing_construction"  # 市住建局
    district_management = "district_management"  # 区政府 / 区城管 (six districts)


class Stage(StrEnum):
    """The five stages of the reform plan (section 四), plus the end."""

    acceptance = "acceptance"  # 申请受理 (即办)
    joint_survey = "joint_survey"  # 联合勘察 (1 working day)
    permits = "permits"  # 许可审批 (1 working day)
    construction = "construction"  # 企业施工 (不计时)
    final_acceptance = "final_acceptance"  # 验收服务 (1 working day)
    closed = "closed"


class ApplicationStatus(StrEnum):
    submitted = "submitted"
    returned = "returned"  # returned for changes
    rejected = "rejected"
    not_competent = "not_competent"
    dispatched = "dispatched"  # accepted by the window, waiting for the companies
    surveying = "surveying"
    permitting = "permitting"
    construction = "construction"
    acceptance = "acceptance"
    completed = "completed"


class DispatchStatus(StrEnum):
    pending = "pending"
    accepted = "accepted"


class PermitType(StrEnum):
    road_occupation = "road_occupation"  # 占用城市道路审批
    tree_felling = "tree_felling"  # 砍伐城市树木审批
    pipeline_attachment = "pipeline_attachment"  # 依附于城市道路建设各种管线、杆线等审批
    road_excavation = "road_excavation"  # 挖掘城市道路审批
    traffic_opinion = "traffic_opinion"  # 占挖道路交通安全意见 (市交警支队)
    planning_opinion = "planning_opinion"  # 建设工程规划意见 (自然资源局)
    construction_opinion = "construction_opinion"  # 建筑工程施工意见 (住建局)


class PermitStatus(StrEnum):
    submitted = "submitted"
    in_review = "in_review"  # the clerk has reviewed; waiting for the chief
    approved = "approved"
    approved_with_conditions = "approved_with_conditions"
    returned = "returned"  # returned for changes
    rejected = "rejected"
    deadline_passed = "deadline_passed"
    not_competent = "not_competent"


class ConsultationStatus(StrEnum):
    open = "open"
    answered = "answered"


class AcceptanceMode(StrEnum):
    joint = "joint"  # 联合验收
    per_utility = "per_utility"  # 单项验收


class ApplicantKind(StrEnum):
    person = "person"  # identified by a resident ID card number (GB 11643)
    organisation = "organisation"  # identified by a unified social credit code (GB 32100)


class EntityKind(StrEnum):
    application = "application"
    dispatch = "dispatch"
    permit = "permit"
    consultation = "consultation"
    route = "route"
    opinion = "opinion"
    acceptance = "acceptance"
    user = "user"
    layer = "layer"  # a city's base layer: imported, replaced, deleted (its history)


class Action(StrEnum):
    """Everything a user can ask of the service; the policy table in ``auth`` keys on these."""

    read_me = "read_me"
    logout = "logout"
    list_organisations = "list_organisations"
    manage_users = "manage_users"
    ask_consultation = "ask_consultation"
    list_consultations = "list_consultations"
    answer_consultation = "answer_consultation"
    submit_application = "submit_application"
    list_applications = "list_applications"
    read_application = "read_application"
    accept_application = "accept_application"
    return_application = "return_application"
    reject_application = "reject_application"
    resubmit_application = "resubmit_application"
    accept_dispatch = "accept_dispatch"
    record_opinion = "record_opinion"
    fix_route = "fix_route"
    read_routes = "read_routes"
    list_permits = "list_permits"
    read_permit = "read_permit"
    review_permit = "review_permit"
    decide_permit = "decide_permit"
    resubmit_permit = "resubmit_permit"
    read_attachment = "read_attachment"
    list_feedback = "list_feedback"
    start_construction = "start_construction"
    finish_construction = "finish_construction"
    record_acceptance = "record_acceptance"
    read_record_sheet = "read_record_sheet"
    read_audit = "read_audit"
    list_due = "list_due"
    sweep_deadlines = "sweep_deadlines"
    # the GIS side (api/policy.py); each on the user's own city
    read_layers = "read_layers"  # base layers, underground lines, tiles, layer and city maps
    import_layer = "import_layer"
    submit_proposals = "submit_proposals"
    read_proposals = "read_proposals"
    make_plan = "make_plan"
    read_plans = "read_plans"
    compute_sections = "compute_sections"
    use_workbench = "use_workbench"


# permit type -> the department kind that decides it (reform plan, section 四.3)
PERMIT_OWNER: dict[PermitType, DepartmentKind] = {
    PermitType.road_occupation: DepartmentKind.district_management,
    PermitType.tree_felling: DepartmentKind.district_management,
    PermitType.pipeline_attachment: DepartmentKind.city_management,
    PermitType.road_excavation: DepartmentKind.city_management,
    PermitType.traffic_opinion: DepartmentKind.traffic_police,
    PermitType.planning_opinion: DepartmentKind.natural_resources,
    PermitType.construction_opinion: DepartmentKind.housing_construction,
}

# the Chinese titles come from the one catalogue (api/catalogue.py)
PERMIT_TITLES: dict[PermitType, str] = {p: label("permit_type", p, lang="zh") for p in PermitType}

STAGE_TITLES: dict[Stage, str] = {s: label("stage", s, lang="zh") for s in Stage}

# allowed working days per timed stage; None = untimed (reform plan, section 四)
STAGE_WORKING_DAYS: dict[Stage, int | None] = {
    Stage.acceptance: 0,  # 即办: the same working day
    Stage.joint_survey: 1,
    Stage.permits: 1,
    Stage.construction: None,
    Stage.final_acceptance: 1,
    Stage.closed: None,
}

# decided permit statuses that count as "may proceed"
PERMIT_GRANTED = frozenset({PermitStatus.approved, PermitStatus.approved_with_conditions})
