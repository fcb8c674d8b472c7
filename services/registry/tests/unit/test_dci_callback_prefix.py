"""Callback addresses are compared with the partner's registered prefix as URLs: scheme, host
and port exactly, no user information, the prefix's path as whole segments."""

import pytest
from pydantic import ValidationError

from fupin_registry.dci.protocol import callback_allowed
from fupin_registry.dci.schemas import PartnerCreate


@pytest.mark.parametrize(
    ("prefix", "uri"),
    [
        ("https://sr.civil.example", "https://sr.civil.example/cb"),
        ("https://sr.civil.example/", "https://sr.civil.example/cb?x=1"),
        ("https://sr.civil.example/dci", "https://sr.civil.example/dci/on-search"),
        ("https://sr.civil.example/dci/", "https://sr.civil.example/dci/on-search"),
        ("https://SR.civil.example:443/dci/", "https://sr.civil.example/dci/cb"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/callback"),
    ],
)
def test_callbacks_under_the_prefix_are_allowed(prefix, uri):
    assert callback_allowed(prefix, uri)


@pytest.mark.parametrize(
    ("prefix", "uri"),
    [
        ("https://sr.civil.example", "https://sr.civil.example@127.0.0.1:5432/x"),
        ("https://sr.civil.example", "https://sr.civil.example.attacker.net/cb"),
        ("https://sr.civil.example", "https://sr.civil.example:8443/cb"),
        ("https://sr.civil.example", "http://sr.civil.example/cb"),
        ("https://sr.civil.example", "https://user:pw@sr.civil.example/cb"),
        ("https://sr.civil.example/dci", "https://sr.civil.example/dci-other/cb"),
        ("https://sr.civil.example/dci", "https://sr.civil.example/"),
        ("https://sr.civil.example/dci/", "https://sr.civil.example/dci/../admin"),
        ("https://sr.civil.example/dci/", "https://sr.civil.example/dci/%2e%2e/admin"),
        ("https://sr.civil.example/dci/", "https://sr.civil.example/dci/a%2fb"),
        ("https://sr.civil.example/dci/", "https://sr.civil.example\\@evil.example/dci/x"),
        ("https://sr.civil.example", "https://sr.civil.example /cb"),
        ("https://sr.civil.example", "ftp://sr.civil.example/cb"),
        ("https://sr.civil.example", "not a url"),
        (None, "https://sr.civil.example/cb"),
    ],
)
def test_other_callbacks_are_refused(prefix, uri):
    assert not callback_allowed(prefix, uri)


@pytest.mark.parametrize(
    "prefix",
    [
        "https://user@sr.civil.example/",
        "https://sr.civil.example/?next=x",
        "https://sr.civil.example/#x",
        "https://sr.civil.example\\@evil.example/",
    ],
)
def test_registered_prefixes_are_plain_urls(prefix):
    with pytest.raises(ValidationError):
        PartnerCreate(
            sender_id="a.example",
            name="n",
            client_id="c",
            require_signature=False,
            callback_url_prefix=prefix,
        )
