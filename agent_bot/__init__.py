"""The Pipecat voice agent config-sync deploys: Daily + Twilio transports, Amazon Nova Sonic, per-agent config."""
