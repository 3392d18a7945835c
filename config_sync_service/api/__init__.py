"""HTTP surface: the app, probes, status, metrics, operator endpoints."""
