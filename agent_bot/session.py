"""One running conversation: the pipeline, its Nova Sonic service, its tools, and live context updates."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from loguru import logger
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import (
    EndWorkerFrame,
    Frame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMRunFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.transports.base_transport import BaseTransport
from pipecat.workers.runner import WorkerRunner

from agent_bot.config import offered_tools
from agent_bot.llm import AgentNovaSonic, nova_settings
from agent_bot.observer import ToolCallTap, observe_turns
from agent_bot.recording import CallRecording
from agent_bot.records import CALLER_HUNG_UP, ERROR, IDLE_TIMEOUT
from agent_bot.reporting import CallReporter
from agent_bot.tools import CallState, WeatherClient, build_tools
from agent_schema import AgentConfigEnvelope, LLMContextConfig

LLMFactory = Callable[[LLMContextConfig, Mapping[str, str]], AgentNovaSonic]
GOODBYE_START_TIMEOUT_S = 5.0  # no goodbye started by then (it was said before the tool call): end anyway
GOODBYE_PLAY_TIMEOUT_S = 30.0
DEFAULT_GREETING = "Greet the caller briefly and ask how you can help."

SESSIONS: dict[str, AgentSession] = {}  # running sessions by id, for the Session API's POST /context


class _ResponseTap(FrameProcessor):
    """Passes every frame on; reports assistant response start/end frames to `seen`."""

    def __init__(self, name: str, seen: Callable[[Frame], None]) -> None:
        super().__init__(name=name)
        self._seen = seen

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMFullResponseStartFrame | LLMFullResponseEndFrame):
            self._seen(frame)
        await self.push_frame(frame, direction)


class GoodbyeWatch:
    """Knows when the assistant's next turn has been played to the caller, so `end_call` ends after its goodbye.

    Two taps: one right after Nova Sonic picks the first response it starts after `arm()` (the goodbye, spoken
    once the tool result is in); one after the output transport, which passes frames on only once the audio
    before them was sent, sees that response end. Frames keep their identity through the pipeline, so a turn that
    began before `arm()` and is still playing cannot be mistaken for the goodbye.
    """

    def __init__(self) -> None:
        self.emitted = _ResponseTap("goodbye-emitted", self._on_emitted)
        self.played = _ResponseTap("goodbye-played", self._on_played)
        self._armed = False
        self._goodbye: int | None = None
        self._playing = False
        self._started = asyncio.Event()
        self._done = asyncio.Event()

    def arm(self) -> None:
        self._armed, self._goodbye, self._playing = True, None, False
        self._started.clear()
        self._done.clear()

    def _on_emitted(self, frame: Frame) -> None:
        if self._armed and self._goodbye is None and isinstance(frame, LLMFullResponseStartFrame):
            self._goodbye = frame.id
            self._started.set()

    def _on_played(self, frame: Frame) -> None:
        if isinstance(frame, LLMFullResponseStartFrame) and frame.id == self._goodbye:
            self._playing = True
        elif isinstance(frame, LLMFullResponseEndFrame) and self._playing:
            self._done.set()

    async def played_out(self) -> bool:
        """True once the goodbye has been played; False when it never started or took too long."""
        try:
            await asyncio.wait_for(self._started.wait(), GOODBYE_START_TIMEOUT_S)
            await asyncio.wait_for(self._done.wait(), GOODBYE_PLAY_TIMEOUT_S)
            return True
        except TimeoutError:
            return False
        finally:
            self._armed = False


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
        idle_timeout_s: float | None = 300,
    ) -> None:
        self.session_id = session_id
        self.config = config
        self.caller = dict(caller)  # permitted per-call overrides; they outlive context updates
        self.call = call
        self.weather = weather
        self.reporter = reporter
        self.applied_version = config.version
        self._lock = asyncio.Lock()  # one context update at a time
        call.on_end_requested = self._end_after_goodbye
        self.llm = make_llm(config.llm_context, self.caller)
        schemas = self._register_tools(config.llm_context)
        # the tools live in the context (not the service), so an update can replace them, down to none
        self.context = LLMContext(tools=ToolsSchema(standard_tools=schemas))
        user, assistant = LLMContextAggregatorPair(self.context)
        observe_turns(call.record, user, assistant)
        self.goodbye = GoodbyeWatch()
        self.recording = CallRecording(recording_rate) if reporter.wants_recording else None
        self.worker = PipelineWorker(
            self._pipeline(transport, user, assistant),
            params=PipelineParams(enable_metrics=True),
            idle_timeout_secs=idle_timeout_s,
        )
        self.runner = WorkerRunner(handle_sigint=False)
        self._handle_events(transport)

    def _pipeline(self, transport: BaseTransport, user: FrameProcessor, assistant: FrameProcessor) -> Pipeline:
        return Pipeline(
            [
                transport.input(),
                user,
                self.llm,
                self.goodbye.emitted,
                transport.output(),
                *([self.recording.processor] if self.recording else []),  # both sides, as played
                self.goodbye.played,
                ToolCallTap(self.call.record),
                assistant,
            ]
        )

    def _handle_events(self, transport: BaseTransport) -> None:
        record = self.call.record

        @self.worker.event_handler("on_idle_timeout")  # type: ignore[untyped-decorator]
        async def idle(_worker: Any) -> None:
            record.over(IDLE_TIMEOUT)

        @transport.event_handler("on_client_connected")  # type: ignore[untyped-decorator]
        async def greet(_transport: Any, _client: Any) -> None:
            record.answered()
            greeting = self.caller.get("greeting") or self.config.llm_context.greeting
            instruction = f'Greet the caller by saying: "{greeting}"' if greeting else DEFAULT_GREETING
            self.context.add_message({"role": "developer", "content": instruction})
            await self.worker.queue_frames([LLMRunFrame()])

        @transport.event_handler("on_client_disconnected")  # type: ignore[untyped-decorator]
        async def gone(_transport: Any, _client: Any) -> None:
            record.over(CALLER_HUNG_UP)
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
        try:
            await self.runner.add_workers(self.worker)
            await self.runner.run()
        except Exception:
            self.call.record.end(ERROR)
            raise
        finally:
            self.call.record.finish()
            if SESSIONS.get(self.session_id) is self:
                del SESSIONS[self.session_id]
            await self._after_pipeline()
            try:
                await self.reporter.finished(self.recording)
            except Exception:  # a bug here must not turn a finished call into a failed session
                logger.exception(f"session {self.session_id}: reporting the call failed")

    async def _end_after_goodbye(self) -> None:
        """Called by `end_call` before it hands Nova the tool result (which makes Nova say goodbye)."""
        self.goodbye.arm()

        async def wait_then_end() -> None:
            if not await self.goodbye.played_out():
                logger.warning(f"session {self.session_id}: end_call without a goodbye played; ending anyway")
            self.call.record.over()
            await self.llm.push_frame(EndWorkerFrame(reason="end_call"), FrameDirection.UPSTREAM)

        self.llm.create_task(wait_then_end(), name="end-call")

    async def _after_pipeline(self) -> None:
        """Twilio calls the bot ended are hung up explicitly; a transferred call is left to its new leg."""
        call = self.call
        if call.channel == "twilio" and call.ending and not call.transferred and call.call_control and call.call_sid:
            try:
                await call.call_control.hangup(call.call_sid)
            except Exception as exc:  # the pipeline is over either way; never raise into the platform
                logger.warning(f"session {self.session_id}: hang-up failed: {type(exc).__name__}")

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
            kept = _session_fields(old) == _session_fields(new)
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


def _session_fields(context: LLMContextConfig) -> tuple[object, ...]:
    """What Nova Sonic takes when its session opens, apart from the knowledge base."""
    return (
        context.system_prompt,
        tuple(context.guardrails),
        context.voice_id,
        context.model,
        context.endpointing_sensitivity,
        tuple(offered_tools(context)),
    )
