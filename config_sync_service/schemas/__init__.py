"""Wire and stored formats: the change message, and what an agent configuration means for Pipecat Cloud."""
