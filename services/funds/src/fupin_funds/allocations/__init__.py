"""Allocation down the region tree: factor formula plus performance award (以奖代补)."""
