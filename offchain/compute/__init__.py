"""compute component."""
