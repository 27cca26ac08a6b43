"""One error root for everything mcp-comply raises, each with a human-readable diagnostics() text."""

from __future__ import annotations


class MCPComplyError(Exception):
    """Root of every error mcp-comply raises on purpose."""

    def diagnostics(self) -> str:
        """A text for humans: what went wrong and what to do about it."""
        return str(self)


class ConfigError(MCPComplyError):
    """A configuration or policy file (or setting) is invalid.

    ``source`` names the file or setting, ``path`` the location inside it (``a.b[2]``).
    """

    def __init__(self, reason: str, *, source: str = "<settings>", path: str = "") -> None:
        self.reason = reason
        self.source = source
        self.path = path
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: {reason}")

    def diagnostics(self) -> str:
        return f"invalid configuration\n  file:   {self.source}\n  path:   {self.path or '(top level)'}\n" \
               f"  reason: {self.reason}"


class IntegrityError(MCPComplyError):
    """Audit data, a checkpoint, a proof or a signature does not verify, or cannot be kept intact."""


class InstrumentationError(MCPComplyError):
    """instrument() was handed an object or framework version it cannot instrument."""


class MissingExtraError(MCPComplyError):
    """An optional dependency is needed for this feature and is not installed."""

    def __init__(self, package: str, extra: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(f"{package} is not installed; install it with: pip install 'mcp-comply[{extra}]'")
