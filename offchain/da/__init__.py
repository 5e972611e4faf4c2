"""da component."""
