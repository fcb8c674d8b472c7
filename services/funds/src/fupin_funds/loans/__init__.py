"""Subsidised loans (贴息贷款) and the collateral pilots, interest subsidies, risk compensation."""
