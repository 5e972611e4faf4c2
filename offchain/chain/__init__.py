"""chain component."""
