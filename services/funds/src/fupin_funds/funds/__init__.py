"""Special funds by source and budget year, held at a region (appropriations and donations)."""
