"""An objector's contact read without pii:read shows no more than a masked name and phone."""

import pytest

from fupin_funds.common.privacy import Privacy
from fupin_funds.config import Settings
from fupin_kit.auth import Caller

OFFICER = Caller(subject="o", roles=frozenset({"officer"}), jurisdiction="22")
CLEAR = Caller(subject="o", scopes=frozenset({"pii:read"}), jurisdiction="22")


@pytest.mark.parametrize(
    ("contact", "masked"),
    [
        ("张三 13800138000", "张***********00"),
        ("13800138000", "1********00"),
        ("王五", "****"),
        ("abcdefg", "****"),
    ],
)
def test_a_masked_contact_shows_its_first_character_and_last_two(contact, masked):
    privacy = Privacy(Settings())
    sealed = privacy.cipher.encrypt(contact, "objection_contact")
    assert privacy.contact(sealed, OFFICER) == masked
    assert privacy.contact(sealed, CLEAR) == contact
