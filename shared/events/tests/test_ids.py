"""Random identifiers are canonical random version-4 UUIDs."""

import uuid

from fupin_events.ids import uuid4_text, uuid4_texts


def test_ids_are_canonical_random_v4_uuids():
    ids = uuid4_texts(2000) + [uuid4_text() for _ in range(2000)]
    assert len(set(ids)) == 4000
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == text
    for made in (ids[:2000], ids[2000:]):
        assert {text[19] for text in made} == set("89ab")  # every variant nibble occurs
    assert uuid4_texts(0) == []
