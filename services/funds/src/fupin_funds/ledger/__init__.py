"""Double-entry ledger in integer fen: accounts that never go below zero, immutable entries."""
