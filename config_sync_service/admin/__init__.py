"""Operator tooling shared by the CLI and the HTTP API: the dead-letter list, and hints that make daemons look."""
