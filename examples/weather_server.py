"""A realistic MCP server, instrumented with one line: weather tools for a travel assistant.

Run it over stdio (for an MCP host) or streamable HTTP:

    python examples/weather_server.py                          # stdio
    python examples/weather_server.py --transport http --port 8000 --metrics-port 9464

Tools: ``get_forecast`` (fails deliberately for unknown cities), ``convert_temperature``,
``plan_trip`` (a structured input schema) and ``station_status`` (crashes for one station); a
resource (``weather://cities``) and a prompt (``plan_weekend``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from typing import Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from mcp_comply import instrument

CITIES = {
    "paris": (48.86, 2.35), "berlin": (52.52, 13.40), "lisbon": (38.72, -9.14),
    "oslo": (59.91, 10.75), "rome": (41.90, 12.50), "madrid": (40.42, -3.70),
}
_CONDITIONS = ("sunny", "cloudy", "rain", "showers", "windy", "snow")


def _forecast_day(city: str, day: int) -> dict[str, object]:
    # Deterministic "weather" so the example needs no network and tests can assert values.
    seed = hashlib.sha256(f"{city}:{day}".encode()).digest()
    return {"day": day, "high_c": 5 + seed[0] % 25, "low_c": -5 + seed[1] % 15,
            "conditions": _CONDITIONS[seed[2] % len(_CONDITIONS)]}


class Leg(BaseModel):
    city: str = Field(description="Destination city")
    nights: int = Field(ge=1, le=30, description="Nights to stay")


class TripRequest(BaseModel):
    traveller: str = Field(min_length=1, description="Who is travelling")
    legs: list[Leg] = Field(min_length=1, max_length=10, description="Stops in order")
    prefer: Literal["warm", "dry", "any"] = "any"


def build_server(name: str = "weather", *, metrics_port: int | None = None) -> MCPServer:
    server = MCPServer(name, instructions="Weather forecasts and trip planning for travellers.")

    @server.resource("weather://cities", name="cities", description="The cities the forecast tools know.",
                     mime_type="application/json")
    def cities() -> str:
        return json.dumps(sorted(CITIES))

    @server.prompt(name="plan_weekend", description="Ask the assistant to plan a weekend around the weather.")
    def plan_weekend(city: str) -> str:
        return f"Plan a weekend in {city}: check get_forecast for 3 days and suggest what to do each day."

    @server.tool()
    def get_forecast(city: str, days: int = 3) -> list[dict[str, object]]:
        """Daily forecast for a city (1-7 days)."""
        key = city.strip().lower()
        if key not in CITIES:
            raise ToolError(f"unknown city {city!r}; known: {', '.join(sorted(CITIES))}")
        if not 1 <= days <= 7:
            raise ToolError("days must be between 1 and 7")
        return [_forecast_day(key, d) for d in range(days)]

    @server.tool()
    def convert_temperature(value: float, from_unit: Literal["C", "F", "K"],
                            to_unit: Literal["C", "F", "K"]) -> float:
        """Convert a temperature between Celsius, Fahrenheit and Kelvin."""
        celsius = {"C": value, "F": (value - 32) * 5 / 9, "K": value - 273.15}[from_unit]
        out = {"C": celsius, "F": celsius * 9 / 5 + 32, "K": celsius + 273.15}[to_unit]
        return round(out, 2)

    @server.tool()
    def plan_trip(request: TripRequest) -> dict[str, object]:
        """Score a multi-city trip by the weather on each leg."""
        legs = []
        for leg in request.legs:
            key = leg.city.strip().lower()
            if key not in CITIES:
                raise ToolError(f"unknown city {leg.city!r}")
            days = [_forecast_day(key, d) for d in range(min(leg.nights, 7))]
            warm = sum(int(d["high_c"]) for d in days) / len(days)  # type: ignore[call-overload]
            legs.append({"city": key, "nights": leg.nights, "avg_high_c": round(warm, 1)})
        return {"traveller": request.traveller, "legs": legs, "prefer": request.prefer}

    @server.tool()
    def station_status(station_id: str) -> dict[str, object]:
        """Health of a weather station. Station 'ws-13' has a firmware bug and crashes the lookup."""
        if station_id == "ws-13":
            raise RuntimeError("station firmware returned a malformed frame")
        return {"station": station_id, "online": True, "battery_pct": 87}

    # The one line. Add audit_dir="/var/log/mcp-audit" (or set MCP_COMPLY_AUDIT_DIR) for the audit log.
    instrument(server, metrics_port=metrics_port)
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--transport", choices=("stdio", "http"), default="stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--metrics-port", type=int, default=None)
    args = parser.parse_args(argv)

    server = build_server(metrics_port=args.metrics_port)

    if args.transport == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host=args.host, port=args.port)


if __name__ == "__main__":
    main()
