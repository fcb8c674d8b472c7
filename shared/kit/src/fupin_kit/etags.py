"""``If-Match`` for optimistic concurrency (RFC 9110 §13.1.1).

A version number is a strong validator: the tags a service sends are strong (``"3"``), and an
``If-Match`` list is compared strongly, so a weak tag (``W/"3"``) never matches. ``*`` (any
current version) matches none: an update must name the version it was based on, which is what
makes a lost update impossible; ``*`` would let a client skip reading first.
"""

from __future__ import annotations


def if_match_satisfied(header: str, current: str) -> bool:
    """Whether an ``If-Match`` header value lets an update of the version tagged ``current``
    (a strong entity-tag) go ahead."""
    return current in (tag.strip() for tag in header.split(","))
