"""Fills a call's record from the running pipeline: turns from the context aggregators' turn events, tool calls
from the function-call frames.

Nova Sonic transcribes both sides itself: the caller's words reach the user aggregator as transcriptions, the
agent's as the text of what it says. pipecat 1.x reports each finished turn on the aggregator pair
(`on_user_turn_message_added`, which in realtime mode fires once the turn's text is final, and
`on_assistant_turn_stopped`); `TranscriptProcessor` is deprecated.
"""

from __future__ import annotations

from typing import Any

from pipecat.frames.frames import Frame, FunctionCallInProgressFrame, FunctionCallResultFrame
from pipecat.processors.aggregators.llm_response_universal import (
    AssistantTurnStoppedMessage,
    LLMAssistantAggregator,
    LLMUserAggregator,
    UserTurnMessageAddedMessage,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from agent_bot import logs
from agent_bot.records import CallRecord


def observe_turns(record: CallRecord, user: LLMUserAggregator, assistant: LLMAssistantAggregator) -> None:
    @user.event_handler("on_user_turn_message_added")  # type: ignore[untyped-decorator]
    async def user_turn(_aggregator: Any, message: UserTurnMessageAddedMessage) -> None:
        record.turn("user", message.content, message.timestamp)

    @assistant.event_handler("on_assistant_turn_stopped")  # type: ignore[untyped-decorator]
    async def assistant_turn(_aggregator: Any, message: AssistantTurnStoppedMessage) -> None:
        record.turn("assistant", message.content, message.timestamp, interrupted=message.interrupted)


class ToolCallTap(FrameProcessor):
    """Passes every frame on; records each tool call (name, arguments) and its result.

    It sits after the output transport, which lets these frames through in order with the audio around them,
    so a tool call is timed where the caller hears it, as the assistant's turns are.
    """

    def __init__(self, record: CallRecord) -> None:
        super().__init__(name="call-record-tools")
        self._record = record

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM:
            if isinstance(frame, FunctionCallInProgressFrame):
                self._record.tool_started(frame.tool_call_id, frame.function_name, frame.arguments)
            elif isinstance(frame, FunctionCallResultFrame) and (frame.properties is None or frame.properties.is_final):
                error = str(frame.error) if frame.error else None
                self._record.tool_finished(frame.tool_call_id, frame.result, error)
                logs.call_event(
                    logs.CALL_TOOL, f"tool {frame.function_name}", self._record.ids(), name=frame.function_name,
                    ok=error is None,
                )  # fmt: skip
        await self.push_frame(frame, direction)
