"""Amazon Nova Sonic, configured per agent. AWS credentials come from the environment and are never logged."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from pipecat.frames.frames import LLMMessagesAppendFrame
from pipecat.services.aws.nova_sonic.llm import AudioConfig, AWSNovaSonicLLMService, AWSNovaSonicLLMSettings
from pipecat.services.aws.nova_sonic.session_continuation import SessionContinuationParams

from agent_bot.config import AgentConfigError, offered_tools, system_instruction
from agent_schema import LLMContextConfig


class AgentNovaSonic(AWSNovaSonicLLMService):
    """Nova Sonic with the two live changes a running session needs (pipecat-bot.md §2.8).

    Tests subclass this and override `create_client()` with an in-process fake Bedrock stream.
    """

    on_caller_words: Callable[[str], None] | None = None  # each final piece of the caller's transcript, as it comes

    async def _report_user_transcription_text_added(self, text: str) -> None:
        # Nova passes the caller's turn on only when it starts answering (or calls a tool); a voicemail needs the
        # words as they come, answered or not
        await super()._report_user_transcription_text_added(text)  # type: ignore[no-untyped-call]
        if self.on_caller_words is not None:
            self.on_caller_words(text)

    async def reopen_with(self, settings: AWSNovaSonicLLMSettings) -> None:
        """Store new settings and reconnect: Nova reads prompt, voice and tools only when its session opens.

        `LLMUpdateSettingsFrame` would store the same delta, but through the frame queue; applying it here keeps
        it ordered before the reconnect. The tools come from the shared context, which the caller has updated.
        """
        await self._update_settings(settings)
        await self.reset_conversation()  # type: ignore[no-untyped-call]

    async def add_text(self, text: str, settings: AWSNovaSonicLLMSettings) -> None:
        """Give the live session text to take in without answering, and keep it for the next session (rotation or
        reset) through the settings."""
        await self._update_settings(settings)
        await self._tell(text, answer=False)

    async def say(self, instruction: str) -> None:
        """Have the model speak now as `instruction` says (a wrap-up, a warning): text it answers at once."""
        await self._tell(instruction, answer=True)

    async def _tell(self, text: str, *, answer: bool) -> None:
        # straight to this processor: queued at the pipeline's head, the user aggregator would keep the text in the
        # context and Nova would never hear it
        await self.queue_frame(LLMMessagesAppendFrame(messages=[{"role": "user", "content": text}], run_llm=answer))


def nova_settings(config: LLMContextConfig, caller: Mapping[str, str]) -> AWSNovaSonicLLMSettings:
    return AWSNovaSonicLLMSettings(
        model=config.model,
        voice=config.voice_id,
        system_instruction=system_instruction(config, caller),
        endpointing_sensitivity=config.endpointing_sensitivity,
    )


def make_llm(
    config: LLMContextConfig,
    caller: Mapping[str, str],
    *,
    environ: Mapping[str, str] | None = None,
    cls: type[AgentNovaSonic] = AgentNovaSonic,
    session_continuation: SessionContinuationParams | None = None,
) -> AgentNovaSonic:
    """The session's Nova Sonic service. Tools are not given here: they live in the session's `LLMContext`, so a
    context update can replace them, down to none (Nova falls back to constructor tools when the context has none).
    """
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
        session_continuation=session_continuation,
    )


def session_fields(context: LLMContextConfig) -> tuple[object, ...]:
    """What Nova Sonic takes when its session opens, apart from the knowledge base."""
    return (
        context.system_prompt,
        tuple(context.guardrails),
        context.voice_id,
        context.model,
        context.endpointing_sensitivity,
        tuple(offered_tools(context)),
    )
