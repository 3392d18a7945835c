"""The agent's tools: weather (Open-Meteo), end the call, transfer to a person. Which ones come from the config."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from loguru import logger
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.services.llm_service import FunctionCallParams

from agent_bot.callctl import TwilioCallControl
from agent_bot.config import LLMContextConfig

Handler = Callable[[FunctionCallParams], Awaitable[None]]

WEATHER_FALLBACK = "The weather service is not answering right now; apologise and offer to help with something else."


@dataclass
class CallState:
    """What the tools know about the call, and what they decided (read by the bot when the pipeline ends)."""

    channel: str  # "twilio" | "daily"
    call_sid: str | None = None
    call_control: TwilioCallControl | None = None
    ending: bool = False
    transferred: bool = False
    on_end_requested: Callable[[], Awaitable[None]] | None = None
    events: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class WeatherClient:
    geocoding_url: str = field(
        default_factory=lambda: os.environ.get(
            "WEATHER_GEOCODING_URL", "https://geocoding-api.open-meteo.com/v1/search"
        )
    )
    forecast_url: str = field(
        default_factory=lambda: os.environ.get("WEATHER_FORECAST_URL", "https://api.open-meteo.com/v1/forecast")
    )
    timeout_s: float = 5.0

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
                "weather_code": current.get("weather_code"),
            }


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
    config: LLMContextConfig, call: CallState, weather: WeatherClient | None = None
) -> tuple[list[FunctionSchema], dict[str, Handler]]:
    """The schemas to advertise and a handler for each (every advertised tool must have one)."""
    weather = weather or WeatherClient()

    async def get_current_weather(params: FunctionCallParams) -> None:
        location = str(params.arguments.get("location", "")).strip()
        try:
            result = await weather.current(location)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            logger.warning(f"weather lookup failed: {type(exc).__name__}")
            result = {"location": location, "error": WEATHER_FALLBACK}
        call.events.append("weather")
        await params.result_callback(result)

    async def end_call(params: FunctionCallParams) -> None:
        call.ending = True
        call.events.append("end_call")
        await params.result_callback({"status": "ending", "instruction": "Say a short goodbye now."})
        if call.on_end_requested is not None:
            await call.on_end_requested()

    async def transfer_call(params: FunctionCallParams) -> None:
        target = config.transfer_number
        if call.channel != "twilio" or call.call_control is None or call.call_sid is None or target is None:
            await params.result_callback({"status": "unavailable", "message": "Transfers work on phone calls only."})
            return
        try:
            await call.call_control.transfer(call.call_sid, target)
        except httpx.HTTPError as exc:
            logger.warning(f"transfer failed: {type(exc).__name__}")
            await params.result_callback({"status": "failed", "message": "The transfer did not go through."})
            return
        call.transferred = True
        call.events.append("transfer_call")
        await params.result_callback({"status": "transferring"})

    handlers: dict[str, Handler] = {
        "get_current_weather": get_current_weather,
        "end_call": end_call,
        "transfer_call": transfer_call,
    }
    enabled = config.enabled_tools()
    return [SCHEMAS[name] for name in enabled], {name: handlers[name] for name in enabled}
