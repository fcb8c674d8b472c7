"""Read model of the registry's households, fed by ``registry.household.v1``."""
