"""The agent's tools: weather (Open-Meteo), end the call, transfer to a person. Which ones come from the config."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from loguru import logger
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.services.llm_service import FunctionCallParams

from agent_bot.callctl import TwilioCallControl
from agent_bot.config import offered_tools
from agent_bot.records import AGENT_ENDED, TRANSFERRED, CallRecord
from agent_schema import LLMContextConfig

Handler = Callable[[FunctionCallParams], Awaitable[None]]

WEATHER_FALLBACK = "The weather service is not answering right now; apologise and offer to help with something else."


@dataclass
class CallState:
    """What the tools know about the call, and what they decided (read by the bot when the pipeline ends); what
    they did goes into the call's record."""

    record: CallRecord
    call_sid: str | None = None
    call_control: TwilioCallControl | None = None
    ending: bool = False
    transferred: bool = False
    on_end_requested: Callable[[], Awaitable[None]] | None = None

    @property
    def channel(self) -> str:
        return self.record.transport


@dataclass(frozen=True)
class WeatherClient:
    """Open-Meteo: geocode the place, then read its current weather. Both base URLs can point elsewhere (tests)."""

    geocoding_url: str = "https://geocoding-api.open-meteo.com/v1/search"
    forecast_url: str = "https://api.open-meteo.com/v1/forecast"
    timeout_s: float = 5.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> WeatherClient:
        """`WEATHER_GEOCODING_URL` and `WEATHER_FORECAST_URL` override the Open-Meteo endpoints."""
        defaults = cls()
        return cls(
            geocoding_url=environ.get("WEATHER_GEOCODING_URL") or defaults.geocoding_url,
            forecast_url=environ.get("WEATHER_FORECAST_URL") or defaults.forecast_url,
        )

    async def current(self, location: str) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=self.timeout_s) as http:
            found = (await http.get(self.geocoding_url, params={"name": location, "count": 1})).raise_for_status()
            results = found.json().get("results") or []
            if not results:
                return {"location": location, "error": "unknown place"}
            place = results[0]
            forecast = (
                await http.get(
                    self.forecast_url,
                    params={
                        "latitude": place["latitude"],
                        "longitude": place["longitude"],
                        "current": "temperature_2m,wind_speed_10m,weather_code",
                    },
                )
            ).raise_for_status()
            current = forecast.json().get("current", {})
            return {
                "location": place.get("name", location),
                "temperature_c": current.get("temperature_2m"),
                "wind_kmh": current.get("wind_speed_10m"),
                "conditions": conditions(current.get("weather_code")),
            }


WMO_CODES = (  # upper bound of each group of Open-Meteo's WMO weather codes
    (0, "clear sky"),
    (3, "partly cloudy"),
    (48, "fog"),
    (57, "drizzle"),
    (67, "rain"),
    (77, "snow"),
    (82, "rain showers"),
    (86, "snow showers"),
    (99, "thunderstorm"),
)


def conditions(wmo_code: object) -> str:
    """Words for a WMO weather code (the model cannot be expected to know the table)."""
    if isinstance(wmo_code, int):
        for upto, words in WMO_CODES:
            if wmo_code <= upto:
                return words
    return "unknown"


SCHEMAS = {
    "get_current_weather": FunctionSchema(
        name="get_current_weather",
        description="Get the current weather for a city or place.",
        properties={"location": {"type": "string", "description": "City or place, e.g. 'Paris'"}},
        required=["location"],
    ),
    "end_call": FunctionSchema(
        name="end_call",
        description="End the call after saying goodbye, when the caller is done.",
        properties={"reason": {"type": "string", "description": "Why the call ends"}},
        required=[],
    ),
    "transfer_call": FunctionSchema(
        name="transfer_call",
        description="Transfer the caller to a human colleague.",
        properties={"reason": {"type": "string", "description": "Why the caller needs a person"}},
        required=[],
    ),
}


def build_tools(
    config: LLMContextConfig, call: CallState, weather: WeatherClient
) -> tuple[list[FunctionSchema], dict[str, Handler]]:
    """The schemas to advertise and a handler for each (every advertised tool must have one)."""

    async def get_current_weather(params: FunctionCallParams) -> None:
        location = str(params.arguments.get("location", "")).strip()
        try:
            result = await weather.current(location)
        except Exception as exc:  # timeouts, HTTP errors, unexpected JSON: the caller hears the fallback
            logger.warning(f"weather lookup failed: {type(exc).__name__}")
            result = {"location": location, "error": WEATHER_FALLBACK}
        await params.result_callback(result)

    async def end_call(params: FunctionCallParams) -> None:
        call.ending = True
        call.record.end(AGENT_ENDED)
        if call.on_end_requested is not None:  # before the result: Nova says goodbye as soon as it has it
            await call.on_end_requested()
        await params.result_callback({"status": "ending", "instruction": "Say a short goodbye now."})

    async def transfer_call(params: FunctionCallParams) -> None:
        target = config.transfer_number
        if call.channel != "twilio" or call.call_control is None or call.call_sid is None or target is None:
            await params.result_callback({"status": "unavailable", "message": "Transfers work on phone calls only."})
            return
        call.transferred = True  # before the request: Twilio may close the media stream before it returns
        call.record.end(TRANSFERRED)
        try:
            await call.call_control.transfer(call.call_sid, target)
        except httpx.HTTPError as exc:
            call.transferred = False
            if call.record.end_reason == TRANSFERRED:  # the call goes on
                call.record.end_reason = None
            logger.warning(f"transfer failed: {type(exc).__name__}")
            failed = {"status": "failed", "error": type(exc).__name__}
            call.record.event("transfer", tool_call_id=params.tool_call_id, target=target, **failed)
            await params.result_callback({"status": "failed", "message": "The transfer did not go through."})
            return
        call.record.transfer_target = target
        call.record.event("transfer", tool_call_id=params.tool_call_id, target=target, status="transferring")
        await params.result_callback({"status": "transferring"})

    handlers: dict[str, Handler] = {
        "get_current_weather": get_current_weather,
        "end_call": end_call,
        "transfer_call": transfer_call,
    }
    # a transfer redirects the Twilio call; a WebRTC session has nothing to redirect, so it is not offered there
    enabled = [t for t in offered_tools(config) if t != "transfer_call" or call.channel == "twilio"]
    return [SCHEMAS[name] for name in enabled], {name: handlers[name] for name in enabled}
