"""Wire formats: the change message."""
