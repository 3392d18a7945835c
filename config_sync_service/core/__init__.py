"""Process-wide pieces: settings and logging."""
