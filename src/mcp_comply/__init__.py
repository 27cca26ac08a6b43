"""Observability and compliance for Python MCP servers.

    from mcp_comply import instrument
    instrument(server)   # MCPServer, low-level Server or fastmcp.FastMCP

Importing this package is cheap: it loads only the error classes. ``instrument`` and
``Instrumentation`` (and what they need: metrics, spans, the audit writer) load on first use; the
release pipeline (``generate``, ``check``) never loads unless a command asks for it.

``mcp_comply.instrument`` is always the function, whatever was imported before: the subpackage of
the same name (``mcp_comply/instrument/``) is reached with ``from mcp_comply.instrument import ...``
or ``importlib.import_module("mcp_comply.instrument")``, never as an attribute.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from mcp_comply.exceptions import (
    ConfigError,
    GenerationError,
    InputError,
    InstrumentationError,
    IntegrityError,
    MCPComplyError,
    MissingExtraError,
)

if TYPE_CHECKING:
    from mcp_comply.instrument import Instrumentation, instrument

    __version__: str

__all__ = [
    "ConfigError",
    "GenerationError",
    "InputError",
    "InstrumentationError",
    "Instrumentation",
    "IntegrityError",
    "MCPComplyError",
    "MissingExtraError",
    "__version__",
    "instrument",
]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mcp-comply")
    except PackageNotFoundError:  # pragma: no cover - only when run from a source tree without install
        return "0.0.0+unknown"


def _runtime(name: str) -> Any:
    module = sys.modules.get("mcp_comply.instrument")
    if module is None:
        import importlib

        module = importlib.import_module("mcp_comply.instrument")
    return getattr(module, name)


class _Package(types.ModuleType):
    """The package's module type: ``instrument`` resolves to the function on every access.

    Importing the subpackage ``mcp_comply.instrument`` makes the import system bind the submodule
    as an attribute of this package (``setattr(mcp_comply, "instrument", module)``); the setter
    below keeps the public name pointing at the function instead, in any import order.
    """

    @property
    def instrument(self) -> Any:
        return _runtime("instrument")

    @instrument.setter
    def instrument(self, value: Any) -> None:
        if not isinstance(value, types.ModuleType):  # the subpackage binding is ignored, anything else refused
            raise AttributeError(  # noqa: TRY004 - attribute assignment refused: AttributeError, as for a read-only
"mcp_comply.instrument is the instrument() function and cannot be replaced")


def __getattr__(name: str) -> Any:
    if name == "Instrumentation":
        return _runtime(name)
    if name == "__version__":
        value = _version()
        globals()["__version__"] = value
        return value
    raise AttributeError(f"module 'mcp_comply' has no attribute {name!r}")


sys.modules[__name__].__class__ = _Package
