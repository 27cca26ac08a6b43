"""Running ``verify``'s block scan over a chain's segments: in this process, or in worker processes
(``python -S -c`` children fed pickled tasks over a pipe).

Not :mod:`multiprocessing`: its ``spawn`` and ``forkserver`` children import the caller's main script
again (a script without an ``if __name__ == "__main__":`` guard would then fail, and any script would
run its top-level code once per worker), and ``fork`` is unsafe in a process with threads. These
children import only this module and what it needs, with the caller's ``sys.path``. A child that
cannot start or dies is replaced by the caller doing its tasks itself: the report is the same.
"""

from __future__ import annotations

import contextlib
import gc
import pickle
import subprocess
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, cast

from mcp_comply.audit._scan import BLOCK, Item, Task, scan

_CHILD = "import sys; sys.path[:] = sys.argv[1:]; from mcp_comply.audit._pool import serve; serve()"
_SIZE = 8


def _send(stream: IO[bytes], value: object) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(_SIZE, "big") + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    header = stream.read(_SIZE)
    if len(header) < _SIZE:
        raise EOFError("the worker closed its pipe")
    data = stream.read(int.from_bytes(header, "big"))
    # S301: the bytes come from our own child process, which pickled them itself
    return pickle.loads(data)  # noqa: S301


def serve() -> None:
    """The child's loop: a task in, its result (or the exception it raised) out, until stdin closes."""
    gc.disable()  # a block makes thousands of short-lived tuples and no cycles; this process does nothing else
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            task = _receive(stdin)
        except EOFError:
            return
        try:
            reply: tuple[str, object] = ("ok", scan(task))
        except Exception as exc:  # noqa: BLE001 - handed to the caller, which raises it as its own
            reply = ("error", exc)
        try:
            _send(stdout, reply)
        except (pickle.PicklingError, TypeError, AttributeError):
            _send(stdout, ("error", OSError(f"{type(reply[1]).__name__}: {reply[1]}")))


class ScanPool:
    """``workers`` child processes that run :func:`~mcp_comply.audit._scan.scan`; reusable across
    :func:`~mcp_comply.audit.verify.verify_directory` calls (one at a time), and a context manager."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("a scan pool needs at least one worker")
        self.workers = workers
        self._children: list[tuple[subprocess.Popen[bytes], IO[bytes], IO[bytes]]] = []
        self._due: list[int] = []  # answers each child still owes (a map() left early leaves some)
        self._broken = False
        # this package first, from where this process has it (an editable install's finder may not
        # be on sys.path), then this process's path; -S: no site module (its .pth files cost start-up)
        path = [str(Path(__file__).resolve().parents[2]), *(p for p in sys.path if isinstance(p, str))]
        if getattr(sys, "frozen", False):  # sys.executable is the frozen application, not Python
            self._broken = True
            return
        try:
            for _ in range(workers):
                # S603: our own interpreter, running a fixed line of code
                child = subprocess.Popen([sys.executable, "-S", "-c", _CHILD, *path],  # noqa: S603
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                self._children.append((child, cast(IO[bytes], child.stdin), cast(IO[bytes], child.stdout)))
                self._due.append(0)
        except OSError:
            self._broken = True

    def map(self, tasks: Iterable[Task], ahead: int) -> Iterator[list[Item]]:
        """The results of ``tasks`` in order, at most ``ahead`` tasks handed out before their result
        is taken (round robin, so each child answers in the order it was asked)."""
        for child, due in enumerate(self._due):
            for _ in range(due):
                self._receive(child)
        pending: deque[tuple[int, Task]] = deque()
        turn = 0
        for task in tasks:
            child = -1
            if not self._broken:
                child = turn % len(self._children)
                turn += 1
                try:
                    _send(self._children[child][1], task)
                    self._due[child] += 1
                except OSError:
                    self._broken, child = True, -1
            pending.append((child, task))
            while len(pending) >= max(1, ahead):
                yield self._result(*pending.popleft())
        while pending:
            yield self._result(*pending.popleft())

    def _receive(self, child: int) -> tuple[str, Any] | None:
        """The child's next answer; None once the pool is broken (a child died or closed its pipe)."""
        if child < 0 or self._broken:
            return None
        try:
            answer: tuple[str, Any] = _receive(self._children[child][2])
        except (EOFError, OSError, pickle.UnpicklingError):
            self._broken = True
            return None
        self._due[child] -= 1
        return answer

    def _result(self, child: int, task: Task) -> list[Item]:
        answer = self._receive(child)
        if answer is None:  # this process does it: the report is the same
            return scan(task)
        status, value = answer
        if status == "error":
            raise value
        return list(value)

    def close(self) -> None:
        """Stop the children (each leaves its loop when its stdin closes) and wait for them."""
        for _, stdin, stdout in self._children:
            for stream in (stdin, stdout):
                with contextlib.suppress(OSError):
                    stream.close()
        for child, _, _ in self._children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self._children = []
        self._broken = True

    def __enter__(self) -> ScanPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Scanner:
    """Runs the block scan (:mod:`._scan`) over the ranges of each segment, in this process or in a
    :class:`ScanPool`'s workers, a few ranges ahead of the verifier (memory stays bounded)."""

    def __init__(self, *, strict: bool, pool: ScanPool | None = None, task_bytes: int = 4 << 20,
                 block: int = BLOCK) -> None:
        self.strict, self.pool, self.task_bytes, self.block = strict, pool, task_bytes, block

    def feed(self, chain: str, segments: list[tuple[Path, int]]) -> Feed:
        return Feed(self.items(chain, segments))

    def items(self, chain: str, segments: list[tuple[Path, int]]) -> Iterator[tuple[int, Item]]:
        """(segment number, item) for every segment, in order."""
        numbers = (seg_no for seg_no, (_, size) in enumerate(segments) for _ in range(0, size, self.task_bytes))
        tasks = (Task(str(path), start, start + self.task_bytes, size, chain, self.strict, self.block)
                 for path, size in segments for start in range(0, size, self.task_bytes))
        results = (map(scan, tasks) if self.pool is None else
                   self.pool.map(tasks, ahead=4 * self.pool.workers))
        for seg_no, items in zip(numbers, results, strict=True):
            for item in items:
                yield seg_no, item


class Feed:
    """The scanner's items of one chain, handed out a segment at a time."""

    def __init__(self, items: Iterator[tuple[int, Item]]) -> None:
        self._items = items
        self._head = next(items, None)

    def segment(self, seg_no: int) -> Iterator[Item]:
        while self._head is not None and self._head[0] == seg_no:
            item = self._head[1]
            self._head = next(self._items, None)
            yield item
