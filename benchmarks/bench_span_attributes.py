"""What the OpenTelemetry SDK charges for attributes set on a recording span: the floor under any
enrichment of a framework's span, counted in machine instructions under callgrind.

    valgrind --tool=callgrind --callgrind-out-file=/tmp/attrs.%p python3.11 benchmarks/bench_span_attributes.py \
        --callgrind
    grep -H summary /tmp/attrs.*.*          # one dump per case: instructions for --spans spans

Each case starts ``--spans`` spans on an SDK TracerProvider (no processor: the spans are only
started, given the case's attributes, and ended; the cyclic collector off while they run);
``none`` sets nothing, so a case's
instructions minus ``none``'s, over the spans, are what its attributes cost per span. The
counters are zeroed before and dumped after each case (``callgrind_control``), so start-up and
imports are not counted. Without valgrind it prints the wall time per span of each case.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import time
from collections.abc import Callable
from typing import Any

KEYS = ("mcp_comply.outcome", "network.transport", "client.address", "client.port", "mcp.session.id",
        "enduser.id")
VALUES: tuple[Any, ...] = ("ok", "tcp", "127.0.0.1", 50123, "0f3c6a9e2b4d4c1e8a7b5d6c9e0f1a2b", "alice")


def _cases() -> dict[str, Callable[[Any], None]]:
    def none(span: Any) -> None:
        return None

    def one(span: Any) -> None:
        span.set_attribute("mcp_comply.outcome", "ok")

    def six_each(span: Any) -> None:
        for key, value in zip(KEYS, VALUES, strict=True):
            span.set_attribute(key, value)

    def six_mapping(span: Any) -> None:
        span.set_attributes(dict(zip(KEYS, VALUES, strict=True)))

    return {"none": none, "one": one, "six_each": six_each, "six_mapping": six_mapping}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=2000)
    parser.add_argument("--callgrind", action="store_true", help="under valgrind: dump the counters around each case")
    args = parser.parse_args()
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("bench")
    cases = _cases()
    for case in cases.values():  # warm-up: specialisation, caches
        for _ in range(200):
            span = tracer.start_span("x")
            case(span)
            span.end()
    gc.collect()
    gc.disable()  # a collection would land in one case's count or another's
    for name, case in cases.items():
        if args.callgrind:
            subprocess.run(["callgrind_control", "-z", str(os.getpid())], check=True, capture_output=True)
        t0 = time.perf_counter()
        for _ in range(args.spans):
            span = tracer.start_span("x")
            case(span)
            span.end()
        elapsed = time.perf_counter() - t0
        if args.callgrind:
            subprocess.run(["callgrind_control", "-d", name, str(os.getpid())], check=True, capture_output=True)
        else:
            print(f"{name}: {elapsed / args.spans * 1e6:.2f} µs per span")


if __name__ == "__main__":
    main()
