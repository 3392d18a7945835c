"""config-sync: keeps voice agents on Pipecat Cloud in step with their configuration in Postgres."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("config-sync")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
