"""Project library: types, villages, beneficiaries, budget by source, approval and lifecycle."""
