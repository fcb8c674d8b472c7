"""Reference data: Jilin's statistical divisions (packaged CSV, loaded by migration 0002)."""
