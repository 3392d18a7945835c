"""The sync engine: per-agent queue, processor, reconciler."""
