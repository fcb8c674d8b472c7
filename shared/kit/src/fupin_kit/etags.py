"""``If-Match`` for optimistic concurrency (RFC 9110 §13.1.1).

A version number is a strong validator: the tags a service sends are strong (``"3"``), and an
``If-Match`` list is compared strongly, so a weak tag (``W/"3"``) never matches; ``*`` matches
any current version.
"""

from __future__ import annotations


def if_match_satisfied(header: str, current: str) -> bool:
    """Whether an ``If-Match`` header value lets an update of the version tagged ``current``
    (a strong entity-tag) go ahead."""
    tags = [tag.strip() for tag in header.split(",")]
    return "*" in tags or current in tags
