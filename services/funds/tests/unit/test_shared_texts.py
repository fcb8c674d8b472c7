"""Texts that are published or travel on events hold no phone, ID or account number: a project's
name and implementing unit (its announcement and events), a reversal's reason (the ledger's
event), a finding's type (the supervision event). Dates and short numbers still pass."""

import pytest
from pydantic import ValidationError

from fupin_funds.ledger.schemas import ReversalCreate
from fupin_funds.projects.schemas import ProjectUpdate
from fupin_funds.supervision.schemas import FindingCreate

FINDING = {
    "region_code": "220622",
    "responsible_unit": "靖宇县乡村振兴局",
    "description": "资金闲置",
    "deadline": "2026-12-31",
}


@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        (ProjectUpdate, {"name": "养牛项目 负责人13912345678"}, "name"),
        (
            ProjectUpdate,
            {"implementing_unit": "合作社 110101 1990-03-07 1234"},
            "implementing_unit",
        ),
        (ReversalCreate, {"reason": "退回 账户6228.4800.1234.5678"}, "reason"),
        (FindingCreate, {**FINDING, "finding_type": "tel 139-1234-5678"}, "finding_type"),
    ],
)
def test_a_published_text_with_a_personal_number_is_refused_on_its_field(model, body, field):
    with pytest.raises(ValidationError) as refused:
        model.model_validate(body)
    [error] = [e for e in refused.value.errors() if e["loc"] == (field,)]
    assert "phone, ID or account number" in error["msg"]


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (ProjectUpdate, {"name": "2026年靖宇县养牛项目（第2期）"}),
        (ReversalCreate, {"reason": "2026-03-01 付款重复，退回12000元"}),
        (FindingCreate, {**FINDING, "finding_type": "idle_funds"}),
    ],
)
def test_dates_amounts_and_codes_pass(model, body):
    model.model_validate(body)
