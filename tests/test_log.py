"""The toolkit's own logger: redirectable, extensible with processors, JSON with trace ids."""

from __future__ import annotations

import io
import json
from typing import Any

from mcp_comply import _log


def test_configure_redirects_and_adds_processors() -> None:
    stream = io.StringIO()
    handle = _log.get_logger()  # taken before configure(), as modules do at import

    def tag(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
        event["deployment"] = "eu-1"
        return event

    _log.configure(stream=stream, processors=[tag])
    try:
        handle.warning("disk_slow", ms=12)
        handle.debug("below_the_default_level")
    finally:
        _log.configure()
    (line,) = stream.getvalue().splitlines()
    record = json.loads(line)
    assert (record["event"], record["ms"], record["deployment"], record["level"]) == ("disk_slow", 12, "eu-1",
                                                                                      "warning")
    assert record["logger_name"] == "mcp_comply"


def test_quiet_drops_info_inside_the_block_only() -> None:
    stream = io.StringIO()
    handle = _log.get_logger()
    _log.configure(stream=stream)
    try:
        handle.info("before")
        with _log.quiet():
            handle.info("inside_info")
            handle.warning("inside_warning")
        handle.info("after")
    finally:
        _log.configure()
    assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == [
        "before", "inside_warning", "after"]
