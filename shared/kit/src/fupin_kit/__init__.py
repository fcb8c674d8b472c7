"""fupin service kit: what every fupin service stands on."""
