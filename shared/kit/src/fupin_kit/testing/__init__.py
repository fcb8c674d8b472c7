"""Test support for fupin services: migrated databases, tokens, API clients, Kafka helpers."""
