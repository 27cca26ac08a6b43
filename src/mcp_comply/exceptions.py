"""One error root for everything mcp-comply raises, one subclass per failure domain.

Every error has a one-line, human-readable :meth:`MCPComplyError.diagnostics` text. The command
line maps errors to exit codes by their type, in one place (:mod:`mcp_comply.cli`): integrity
findings and failed operations exit 1; configuration, input and missing-extra errors exit 2.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ConfigError",
    "GenerationError",
    "InputError",
    "InstrumentationError",
    "IntegrityError",
    "MCPComplyError",
    "MissingExtraError",
    "Problem",
]


class MCPComplyError(Exception):
    """Root of every error mcp-comply raises on purpose."""

    def diagnostics(self) -> str:
        """A text for humans: what went wrong and what to do about it."""
        return str(self)


class Problem:
    """One thing wrong in a file or setting: where (``source``, ``path`` inside it) and why."""

    __slots__ = ("path", "reason", "source")

    def __init__(self, reason: str, source: str, path: str = "") -> None:
        self.reason = reason
        self.source = source
        self.path = path

    def __str__(self) -> str:
        return f"{self.source}: {self.path}: {self.reason}" if self.path else f"{self.source}: {self.reason}"

    def __repr__(self) -> str:
        return f"Problem({self.reason!r}, {self.source!r}, {self.path!r})"


class ConfigError(MCPComplyError):
    """A configuration or policy file (or setting) is invalid.

    ``source`` names the file or setting, ``path`` the location inside it (``a.b[2]``), ``reason``
    the first problem; ``problems`` lists every problem found in the same run (at least one).
    """

    def __init__(self, reason: str, *, source: str = "<settings>", path: str = "",
                 problems: Sequence[Problem] = ()) -> None:
        self.reason = reason
        self.source = source
        self.path = path
        self.problems: tuple[Problem, ...] = tuple(problems) or (Problem(reason, source, path),)
        super().__init__(str(self.problems[0]))

    def diagnostics(self) -> str:
        """One line per problem: ``FILE: PATH: REASON``."""
        return "\n".join(str(p) for p in self.problems)


class InputError(MCPComplyError):
    """A command-line argument, or a file or folder it names, is unusable (missing, unreadable, the
    wrong kind, out of range). ``source`` names the argument or the file."""

    def __init__(self, reason: str, *, source: str) -> None:
        self.reason = reason
        self.source = source
        super().__init__(f"{source}: {reason}")


class GenerationError(MCPComplyError):
    """An artefact could not be produced from valid inputs (e.g. signing needs a network service)."""


class IntegrityError(MCPComplyError):
    """Audit data, a checkpoint, a proof or a signature does not verify, or cannot be kept intact."""


class InstrumentationError(MCPComplyError):
    """instrument() was handed an object or framework version it cannot instrument."""


class MissingExtraError(MCPComplyError):
    """An optional dependency is needed for this feature and is not installed."""

    def __init__(self, package: str, extra: str, *, feature: str | None = None) -> None:
        self.package = package
        self.extra = extra
        self.feature = feature
        needs = f"{feature} needs {package} (not installed)" if feature else f"{package} is not installed"
        super().__init__(f"{needs}; install it with: pip install 'mcp-comply[{extra}]'")
