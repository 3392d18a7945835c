"""Redis: the change listener and the dead-letter list."""
