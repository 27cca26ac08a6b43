"""The example server runs over stdio with the one line, and its tools behave as documented."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "weather_server.py"


@pytest.mark.e2e
def test_example_server_over_stdio() -> None:
    params = StdioServerParameters(command=sys.executable, args=[str(EXAMPLE)],
                                   env={**os.environ, "MCP_COMPLY_LOG_LEVEL": "warning"})

    async def go() -> None:
        async with Client(params) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert sorted(tools) == ["convert_temperature", "get_forecast", "plan_trip", "station_status"]
            assert tools["plan_trip"].input_schema["required"] == ["request"]
            converted = await client.call_tool("convert_temperature",
                                               {"value": 100, "from_unit": "C", "to_unit": "F"})
            assert converted.structured_content == {"result": 212.0}
            trip = await client.call_tool("plan_trip", {"request": {"traveller": "ada",
                                                                    "legs": [{"city": "Oslo", "nights": 2}]}})
            assert json.loads(trip.content[0].text)["legs"][0]["city"] == "oslo"  # type: ignore[union-attr]
            assert (await client.call_tool("get_forecast", {"city": "atlantis"})).is_error is True
            crashed = await client.call_tool("station_status", {"station_id": "ws-13"})
            assert crashed.is_error is True

    anyio.run(go)
