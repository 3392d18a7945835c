"""Postgres: models, engine and sessions, queries, migrations."""
