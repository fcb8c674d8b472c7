"""DCI partners serve the whole province: only a province-level admin lists, reads, registers or
changes one."""

import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fupin_kit.auth import Caller
from fupin_kit.problems import Forbidden
from fupin_kit.testing.plugin import bearer
from fupin_registry.dci.service import PartnerService

PARTNERS = "/v1/dci/partners"


def registration(sender: str) -> dict:
    return {
        "sender_id": sender,
        "name": "民政厅",
        "client_id": sender,
        "public_key": public_pem(),
        "require_signature": True,
    }


def public_pem() -> str:
    return (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def assert_refused(response) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "province-level admin" in response.json()["detail"]


@pytest.mark.parametrize("jurisdiction", ["220623100001", "220623", "2206"])
async def test_an_admin_below_the_province_cannot_administer_partners(
    registry, admin_headers, make_token, jurisdiction
):
    sender = f"civil-{uuid.uuid4().hex[:6]}.example"
    created = await registry.post(PARTNERS, json=registration(sender), headers=admin_headers)
    assert created.status_code == 201, created.text
    local_admin = bearer(make_token(jurisdiction, scopes=[], roles=["admin"], subject="local"))

    assert_refused(await registry.get(PARTNERS, headers=local_admin))
    assert_refused(await registry.get(f"{PARTNERS}/{sender}", headers=local_admin))
    other = f"other-{uuid.uuid4().hex[:6]}.example"
    assert_refused(await registry.post(PARTNERS, json=registration(other), headers=local_admin))
    weakened = {"name": "民政厅", "client_id": sender, "require_signature": False, "active": False}
    assert_refused(
        await registry.put(
            f"{PARTNERS}/{sender}", json=weakened, headers={**local_admin, "If-Match": '"1"'}
        )
    )

    kept = (await registry.get(f"{PARTNERS}/{sender}", headers=admin_headers)).json()
    assert kept["version"] == 1 and kept["require_signature"] is True and kept["active"] is True
    assert (await registry.get(f"{PARTNERS}/{other}", headers=admin_headers)).status_code == 404


async def test_the_partner_service_itself_refuses_an_admin_below_the_province(db_session):
    """The service checks too, so a route without the dependency could not bypass it."""
    county_admin = Caller(subject="c", roles=frozenset({"admin"}), jurisdiction="220623")
    with pytest.raises(Forbidden):
        PartnerService(db_session, county_admin)
    province_admin = Caller(subject="p", roles=frozenset({"admin"}), jurisdiction="22")
    assert PartnerService(db_session, province_admin).caller is province_admin
