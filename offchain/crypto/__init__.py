"""crypto component."""
