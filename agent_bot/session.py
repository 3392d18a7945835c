"""One running conversation: the pipeline, its Nova Sonic service, its tools, the guardrails and voicemail, and
live context updates."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from loguru import logger
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import LLMRunFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMAssistantAggregator,
    LLMContextAggregatorPair,
    LLMUserAggregator,
)
from pipecat.transports.base_transport import BaseTransport
from pipecat.workers.runner import WorkerRunner

from agent_bot import callbacks
from agent_bot.callctl import ANSWERED
from agent_bot.config import offered_tools
from agent_bot.ending import Ending
from agent_bot.guardrails import Guardrails, LimitTiming
from agent_bot.llm import AgentNovaSonic, nova_settings, session_fields
from agent_bot.observer import ToolCallTap, observe_turns
from agent_bot.recording import CallRecording
from agent_bot.records import CALLER_HUNG_UP, ERROR, IDLE_TIMEOUT, TRANSFERRED
from agent_bot.reporting import CallReporter
from agent_bot.speech import SpeechWatch
from agent_bot.tools import CallState, build_tools
from agent_bot.voicemail import UNANSWERED, Trigger, Voicemail
from agent_bot.weather import WeatherClient
from agent_schema import AgentConfigEnvelope, LLMContextConfig

LLMFactory = Callable[[LLMContextConfig, Mapping[str, str]], AgentNovaSonic]
DEFAULT_GREETING = "Greet the caller briefly and ask how you can help."

SESSIONS: dict[str, AgentSession] = {}  # running sessions by id, for the Session API's POST /context


def no_comeback() -> str:
    return ""


@dataclass(frozen=True)
class CallPlan:
    """What the session must know of its call beyond the configuration: the platform's cap on it and how the
    clock runs, how Twilio brings a caller back to this agent (the TwiML after a transfer's `<Dial>`: "" none),
    whether this is such a caller coming back, and who sends callback texts."""

    cap_s: int
    timing: LimitTiming
    comeback: Callable[[], str] = no_comeback
    returning: bool = False
    sms_sender: str | None = None


class AgentSession:
    def __init__(
        self,
        *,
        session_id: str,
        config: AgentConfigEnvelope,
        caller: Mapping[str, str],
        transport: BaseTransport,
        call: CallState,
        make_llm: LLMFactory,
        weather: WeatherClient,
        reporter: CallReporter,
        recording_rate: int,
        plan: CallPlan,
        idle_timeout_s: float | None = 300,
    ) -> None:
        self.session_id = session_id
        self.config = config
        self.caller = dict(caller)  # permitted per-call overrides; they outlive context updates
        self.call, self.weather, self.reporter, self.plan = call, weather, reporter, plan
        self.applied_version = config.version
        self._lock = asyncio.Lock()  # one context update at a time
        self._hung_up = False
        call.session = self
        self.llm = make_llm(config.llm_context, self.caller)
        schemas = self._register_tools(config.llm_context)
        # the tools live in the context (not the service), so an update can replace them, down to none
        self.context = LLMContext(tools=ToolsSchema(standard_tools=schemas))
        user, assistant = LLMContextAggregatorPair(self.context)
        self.speech = SpeechWatch()
        record, context = call.record, self.current_context
        self.ending = Ending(
            llm=self.llm, speech=self.speech, record=record, cancel=self._cancel, session_id=session_id
        )
        self.guardrails = Guardrails(
            context=context, cap_s=plan.cap_s, timing=plan.timing, ending=self.ending, llm=self.llm, record=record
        )
        parts = {"speech": self.speech, "ending": self.ending, "llm": self.llm, "record": record}
        self.voicemail = Voicemail(config.llm_context.voicemail, **parts)  # type: ignore[arg-type]
        self.recording = CallRecording(recording_rate) if reporter.wants_recording else None
        self.worker = PipelineWorker(
            self._pipeline(transport, user, assistant),
            params=PipelineParams(enable_metrics=True),
            idle_timeout_secs=idle_timeout_s,
        )
        self.runner = WorkerRunner(handle_sigint=False)
        self._handle_events(transport, user, assistant)

    def current_context(self) -> LLMContextConfig:
        return self.config.llm_context

    def _pipeline(
        self, transport: BaseTransport, user: LLMUserAggregator, assistant: LLMAssistantAggregator
    ) -> Pipeline:
        return Pipeline(
            [
                transport.input(),
                self.voicemail.tap,  # the caller's audio, while a message is recorded
                user,
                self.llm,
                self.speech.emitted,
                self.voicemail.mute,  # the agent says nothing over a message
                transport.output(),
                *([self.recording.processor] if self.recording else []),  # both sides, as played
                self.speech.played,
                ToolCallTap(self.call.record),
                assistant,
            ]
        )

    def _handle_events(
        self, transport: BaseTransport, user: LLMUserAggregator, assistant: LLMAssistantAggregator
    ) -> None:
        record = self.call.record
        observe_turns(record, user, assistant)

        @user.event_handler("on_user_turn_message_added")  # type: ignore[untyped-decorator]
        async def user_turn(_aggregator: Any, message: Any) -> None:
            await self.guardrails.user_turn(message.content or "")

        @assistant.event_handler("on_assistant_turn_stopped")  # type: ignore[untyped-decorator]
        async def assistant_turn(_aggregator: Any, _message: Any) -> None:
            self.guardrails.assistant_turn()

        @self.worker.event_handler("on_idle_timeout")  # type: ignore[untyped-decorator]
        async def idle(_worker: Any) -> None:
            record.over(IDLE_TIMEOUT)

        @transport.event_handler("on_client_connected")  # type: ignore[untyped-decorator]
        async def connected(_transport: Any, _client: Any) -> None:
            record.answered()
            if self.plan.returning:
                await self._back_from_transfer()
            else:
                await self._open(self._greeting())

        @transport.event_handler("on_client_disconnected")  # type: ignore[untyped-decorator]
        async def gone(_transport: Any, _client: Any) -> None:
            self._hung_up = True
            record.over(CALLER_HUNG_UP)
            self.voicemail.stop("caller_hung_up")  # a message ends with the line, whatever is still ticking
            await self.worker.cancel()

    def _greeting(self) -> str:
        greeting = self.caller.get("greeting") or self.config.llm_context.greeting
        return f'Greet the caller by saying: "{greeting}"' if greeting else DEFAULT_GREETING

    async def _open(self, instruction: str) -> None:
        """Start the conversation: the model speaks first, as `instruction` says."""
        self.context.add_message({"role": "developer", "content": instruction})
        await self.worker.queue_frames([LLMRunFrame()])

    async def _back_from_transfer(self) -> None:
        """The caller is back after a transfer: answered and over (the person hung up first) ends the call;
        nobody answered takes a message (or, with voicemail switched off since, the conversation goes on)."""
        call, outcome = self.call, "failed"
        if call.call_control is not None and call.call_sid is not None:
            try:
                outcome = await call.call_control.dial_outcome(call.call_sid)
            except (httpx.HTTPError, ValueError) as exc:  # unknown: taking a message loses the least
                logger.warning(f"session {self.session_id}: the transfer's outcome is unknown: {type(exc).__name__}")
        call.record.event("transfer", status="returned", outcome=outcome)
        if outcome in ANSWERED:
            await self.ending.now(TRANSFERRED)
        elif "voicemail" in offered_tools(self.current_context()) and await self.voicemail.take("transfer_unanswered"):
            await self._open(UNANSWERED)
        else:
            await self._open(self._greeting())

    async def _cancel(self) -> None:
        await self.worker.cancel()

    def _register_tools(self, context: LLMContextConfig) -> list[Any]:
        """Register a handler for every tool offered (Nova resets on a call it cannot handle); returns the schemas.
        Handlers are replaced on every update, so they always act on the current configuration."""
        schemas, handlers = build_tools(context, self.call, self.weather)
        for name, handler in handlers.items():
            self.llm.register_function(name, handler)
        return schemas

    async def run(self) -> None:
        """The call, then its hang-up, then its records and webhooks (which the caller no longer waits for)."""
        SESSIONS[self.session_id] = self
        self.reporter.started()
        clock = asyncio.create_task(self.guardrails.watch_the_clock(), name="session-clock")
        try:
            await self.runner.add_workers(self.worker)
            await self.runner.run()
        except Exception:
            self.call.record.end(ERROR)
            raise
        finally:
            clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await clock
            self.call.record.finish()
            if SESSIONS.get(self.session_id) is self:
                del SESSIONS[self.session_id]
            message = self.voicemail.finish()
            await self._after_pipeline()
            try:
                await self.reporter.finished(self.recording, message)
            except Exception:  # a bug here must not turn a finished call into a failed session
                logger.exception(f"session {self.session_id}: reporting the call failed")

    async def _after_pipeline(self) -> None:
        """Twilio calls the bot ended are hung up explicitly; a transferred call is left to its new leg, and a call
        the caller left needs nothing more."""
        call = self.call
        ended = self.ending.started and not call.transferred and not self._hung_up
        if call.channel == "twilio" and ended and call.call_control and call.call_sid:
            try:
                await call.call_control.hangup(call.call_sid)
            except Exception as exc:  # the pipeline is over either way; never raise into the platform
                logger.warning(f"session {self.session_id}: hang-up failed: {type(exc).__name__}")

    # --- what the tools ask of the session (tools.SessionActions) ---------------------------------------------
    async def end_after_goodbye(self, reason: str) -> bool:
        return await self.ending.after_words(reason)

    async def take_voicemail(self, trigger: Trigger) -> bool:
        return await self.voicemail.take(trigger)

    async def flag_inappropriate(self) -> dict[str, Any]:
        return await self.guardrails.flagged_by_agent()

    async def callback_scheduled(self, callback: callbacks.Callback) -> None:
        record = self.call.record
        record.event("callback", **callback.data())
        self.reporter.callback_requested(callback.data())
        to = self.current_context().callback_summary_number
        if to:
            await callbacks.text_summary(self.call.call_control, to, self.plan.sms_sender, callback, record)

    def comeback(self) -> str:
        return self.plan.comeback()

    # --- live context updates ----------------------------------------------------------------------------------
    async def apply_context(self, version: int, new: LLMContextConfig) -> str:
        """Make the running conversation use a new context; returns how: "reset", "appended", "unchanged" or
        "stale" (an older version than the one applied; nothing done).

        Nova Sonic reads prompt, voice and tools only when its session opens, so changing any of them reconnects
        it (`reset_conversation()`, about a second of silence). Knowledge snippets added at the end, with nothing
        else changed, are given to the live session as text instead.
        """
        async with self._lock:
            if version < self.applied_version:
                return "stale"
            old = self.config.llm_context
            self.config = self.config.model_copy(update={"version": version, "llm_context": new})
            self.applied_version = version
            schemas = self._register_tools(new)
            settings = nova_settings(new, self.caller)
            kept = session_fields(old) == session_fields(new)
            known = len(old.knowledge_base)
            if kept and new.knowledge_base == old.knowledge_base:
                mode = "unchanged"
            elif kept and new.knowledge_base[:known] == old.knowledge_base:
                note = "\n\n".join(f"## {k.title}\n{k.content}" for k in new.knowledge_base[known:])
                await self.llm.add_text(f"New reference knowledge (no need to answer this):\n{note}", settings)
                mode = "appended"
            else:
                self.context.set_tools(ToolsSchema(standard_tools=schemas))
                await self.llm.reopen_with(settings)
                mode = "reset"
            self.call.record.event("context_update", version=version, mode=mode)
            return mode
