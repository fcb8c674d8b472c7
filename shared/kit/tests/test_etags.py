"""If-Match compares strongly (RFC 9110 §13.1.1)."""

import pytest

from fupin_kit.etags import if_match_satisfied


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        ('"3"', True),
        (' "2", "3" ', True),
        ("*", False),  # an update names the version it was based on
        ('*, "3"', True),
        ('"2"', False),
        ('W/"3"', False),
        ('W/"2", W/"3"', False),
        ("3", False),
        ("", False),
    ],
)
def test_if_match_against_version_three(header, matches):
    assert if_match_satisfied(header, '"3"') is matches
