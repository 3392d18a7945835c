"""A local emulator of the Pipecat Cloud REST API, with fault injection."""
