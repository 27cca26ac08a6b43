"""SIGTERM seals the audit chain: the close record and the final signed checkpoint are written,
then the signal goes on to whatever handled it before, so the server exits exactly as it would
have (killed by SIGTERM under the default action; uvicorn's own shutdown when it serves).

uvicorn replaces the process's handlers while it serves and, on the way out, restores them and
re-raises the signal it caught: the handler installed here runs then, after the application's
graceful shutdown. atexit alone is not enough: a process killed by a signal never runs it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from mcp_comply._log import get_logger

_log = get_logger()


class SigtermSeal:
    """A SIGTERM handler that runs ``close`` once, then chains to the previous handler."""

    def __init__(self, close: Callable[[], None]) -> None:
        self._close = close
        self._previous: Any = None
        self.installed = False

    def install(self) -> bool:
        """Install on the main thread (the only one that may); False when it cannot or should not
        (another thread, or SIGTERM deliberately ignored)."""
        if threading.current_thread() is not threading.main_thread():
            _log.warning("mcp_comply_sigterm_not_hooked", reason="instrument() was not called on the main thread; "
                         "a SIGTERM will not seal the audit chain (call handle.close() on shutdown)")
            return False
        previous = signal.getsignal(signal.SIGTERM)
        if previous is signal.SIG_IGN:
            return False
        signal.signal(signal.SIGTERM, self._handle)
        self._previous = previous
        self.installed = True
        return True

    def uninstall(self) -> None:
        """Put the previous handler back, if ours is still the one installed."""
        if not self.installed or threading.current_thread() is not threading.main_thread():
            return
        self.installed = False
        if signal.getsignal(signal.SIGTERM) == self._handle:
            signal.signal(signal.SIGTERM, self._previous if self._previous is not None else signal.SIG_DFL)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        try:
            self._close()
        except Exception as exc:  # noqa: BLE001 - the shutdown must go on whatever happens here
            _log.error("mcp_comply_sigterm_close_failed", error=f"{type(exc).__name__}: {exc}")
        previous = self._previous
        if callable(previous):
            previous(signum, frame)
            return
        # The default action: die by the signal, as the process would have without us.
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)
