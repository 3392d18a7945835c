"""One running conversation: the pipeline, its Nova Sonic service, its tools, and live context updates."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from loguru import logger
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import EndWorkerFrame, Frame, LLMFullResponseEndFrame, LLMRunFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.aws.nova_sonic.llm import AWSNovaSonicLLMService
from pipecat.transports.base_transport import BaseTransport
from pipecat.workers.runner import WorkerRunner

from agent_bot.config import AgentConfig, LLMContextConfig
from agent_bot.llm import nova_settings
from agent_bot.tools import CallState, WeatherClient, build_tools

LLMFactory = Callable[[LLMContextConfig, list[Any], Mapping[str, str]], AWSNovaSonicLLMService]
GOODBYE_TIMEOUT_S = 10.0

SESSIONS: dict[str, AgentSession] = {}  # running sessions by id, for the Session API's POST /context


class TurnWatcher(FrameProcessor):
    """Notices the end of each assistant turn (so `end_call` can hang up after the goodbye, not during it)."""

    def __init__(self) -> None:
        super().__init__(name="turn-watcher")
        self.turn_ended = asyncio.Event()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMFullResponseEndFrame):
            self.turn_ended.set()
        await self.push_frame(frame, direction)


class AgentSession:
    def __init__(
        self,
        *,
        session_id: str,
        config: AgentConfig,
        caller: Mapping[str, str],
        transport: BaseTransport,
        call: CallState,
        make_llm: LLMFactory,
        weather: WeatherClient | None = None,
        idle_timeout_s: float | None = 300,
    ) -> None:
        self.session_id = session_id
        self.config = config
        self.caller = dict(caller)
        self.call = call
        self.weather = weather
        call.on_end_requested = self._end_after_goodbye
        schemas, handlers = build_tools(config.llm_context, call, weather)
        self.llm = make_llm(config.llm_context, schemas, caller)
        self._register(handlers)
        self.context = LLMContext()
        user, assistant = LLMContextAggregatorPair(self.context)
        self.watcher = TurnWatcher()
        pipeline = Pipeline([transport.input(), user, self.llm, transport.output(), self.watcher, assistant])
        self.worker = PipelineWorker(
            pipeline, params=PipelineParams(enable_metrics=True), idle_timeout_secs=idle_timeout_s
        )
        self.runner = WorkerRunner(handle_sigint=False)
        self.applied_version = config.version

        @transport.event_handler("on_client_connected")  # type: ignore[untyped-decorator]
        async def greet(_transport: Any, _client: Any) -> None:
            instruction = config.llm_context.greeting or "Greet the caller briefly and ask how you can help."
            self.context.add_message({"role": "developer", "content": instruction})
            await self.worker.queue_frames([LLMRunFrame()])

        @transport.event_handler("on_client_disconnected")  # type: ignore[untyped-decorator]
        async def gone(_transport: Any, _client: Any) -> None:
            await self.worker.cancel()

    def _register(self, handlers: Mapping[str, Callable[..., Awaitable[None]]]) -> None:
        for name, handler in handlers.items():
            self.llm.register_function(name, handler)

    async def run(self) -> None:
        SESSIONS[self.session_id] = self
        try:
            await self.runner.add_workers(self.worker)
            await self.runner.run()
        finally:
            SESSIONS.pop(self.session_id, None)
            await self._after_pipeline()

    async def _end_after_goodbye(self) -> None:
        async def wait_then_end() -> None:
            self.watcher.turn_ended.clear()
            try:  # the goodbye is spoken after the tool result: end once that turn is over
                await asyncio.wait_for(self.watcher.turn_ended.wait(), timeout=GOODBYE_TIMEOUT_S)
            except TimeoutError:
                logger.warning("end_call: no goodbye turn seen; ending anyway")
            await self.llm.push_frame(EndWorkerFrame(), FrameDirection.UPSTREAM)

        self.llm.create_task(wait_then_end(), name="end-call")

    async def _after_pipeline(self) -> None:
        """Twilio calls the bot ended are hung up explicitly; a transferred call is left to its new leg."""
        call = self.call
        if call.channel == "twilio" and call.ending and not call.transferred and call.call_control and call.call_sid:
            try:
                await call.call_control.hangup(call.call_sid)
            except Exception as exc:
                logger.warning(f"hang-up failed: {type(exc).__name__}")

    async def apply_context(self, version: int, new: LLMContextConfig) -> str:
        """Make a running conversation use a new context. Nova Sonic reads prompt, voice and tools only when its
        session opens, so those changes reconnect it (`reset_conversation()`, about a second of silence);
        a change of knowledge alone is added as text without a reconnect."""
        old = self.config.llm_context
        self.config = AgentConfig(agent_id=self.config.agent_id, version=version, llm_context=new)
        self.applied_version = version
        needs_reset = (old.system_prompt, old.voice_id, old.enabled_tools(), old.guardrails, old.model) != (
            new.system_prompt,
            new.voice_id,
            new.enabled_tools(),
            new.guardrails,
            new.model,
        )
        # LLMUpdateSettingsFrame would store the same delta; calling it directly keeps it ordered before the reset
        await self.llm._update_settings(nova_settings(new, self.caller))
        if not needs_reset:
            added = [k for k in new.knowledge_base if k not in old.knowledge_base]
            if added:
                note = "\n\n".join(f"## {k.title}\n{k.content}" for k in added)
                self.context.add_message({"role": "developer", "content": f"New reference knowledge:\n{note}"})
            return "appended"
        schemas, handlers = build_tools(new, self.call, self.weather)
        self._register(handlers)
        self.context.set_tools(ToolsSchema(standard_tools=schemas) if schemas else ToolsSchema(standard_tools=[]))
        await self.llm.reset_conversation()  # type: ignore[no-untyped-call]
        return "reset"
