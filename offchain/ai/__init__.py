"""ai component."""
