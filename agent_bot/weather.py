"""The weather tool's source: Open-Meteo (geocode the place, then read its current weather)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

WEATHER_FALLBACK = "The weather service is not answering right now; apologise and offer to help with something else."


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
