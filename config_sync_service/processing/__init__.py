"""The sync engine: intake, per-agent queue, processor (and the Pipecat calls it makes), sweeper."""
