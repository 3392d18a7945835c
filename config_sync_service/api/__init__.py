"""HTTP surface: probes, status, metrics, operator endpoints."""
