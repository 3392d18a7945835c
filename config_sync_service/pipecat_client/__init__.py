"""The async client of the Pipecat Cloud REST API."""
