"""The lowest layer: settings, logging, metric instruments, the error classification, backoff."""
