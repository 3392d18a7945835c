"""Postgres: models and tables, engine and sessions, queries (crud), the claim, "out of sync" (drift), migrations."""
