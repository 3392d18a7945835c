"""Amazon Nova Sonic, configured per agent. AWS credentials come from the environment and are never logged."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.services.aws.nova_sonic.llm import AudioConfig, AWSNovaSonicLLMService, AWSNovaSonicLLMSettings
from pipecat.services.aws.nova_sonic.session_continuation import SessionContinuationParams

from agent_bot.config import AgentConfigError, LLMContextConfig

DEFAULT_MODEL = "amazon.nova-2-sonic-v1:0"


def nova_settings(config: LLMContextConfig, caller: Mapping[str, str]) -> AWSNovaSonicLLMSettings:
    return AWSNovaSonicLLMSettings(
        model=config.model or DEFAULT_MODEL,
        voice=config.voice_id,
        system_instruction=config.system_instruction(caller),
        endpointing_sensitivity=config.endpointing_sensitivity,
    )


def make_llm(
    config: LLMContextConfig,
    tools: list[FunctionSchema],
    caller: Mapping[str, str],
    *,
    environ: Mapping[str, str] | None = None,
    cls: type[AWSNovaSonicLLMService] = AWSNovaSonicLLMService,
    session_continuation: SessionContinuationParams | None = None,
) -> AWSNovaSonicLLMService:
    env = environ if environ is not None else os.environ
    missing = [k for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if not env.get(k)]
    if missing:
        raise AgentConfigError(f"{', '.join(missing)} not set (shared secrets from config-sync's AGENT_SECRET_*)")
    return cls(
        access_key_id=env["AWS_ACCESS_KEY_ID"],
        secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        session_token=env.get("AWS_SESSION_TOKEN") or None,
        region=env.get("AWS_REGION", "us-east-1"),
        settings=nova_settings(config, caller),
        audio_config=AudioConfig(),
        tools=ToolsSchema(standard_tools=tools),
        session_continuation=session_continuation,
    )
