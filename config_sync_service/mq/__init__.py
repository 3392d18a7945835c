"""Redis: the change listener, the publisher of changes, the dead-letter list."""
