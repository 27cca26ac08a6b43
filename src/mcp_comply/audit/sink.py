"""From CallRecord to audit record: redaction on the request path, then one enqueue."""

from __future__ import annotations

import asyncio
import contextvars
import os
import secrets
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from mcp_comply import semconv
from mcp_comply._record import CallRecord, request_id_text, semconv_error_type
from mcp_comply.audit import _format as fmt
from mcp_comply.audit.keys import load_signer
from mcp_comply.audit.redact import DEFAULT_DENY_KEYS, RedactionRules, Redactor
from mcp_comply.audit.writer import AuditWriter, WriterConfig, audit_metrics_hooks
from mcp_comply.config import AuditPolicy
from mcp_comply.exceptions import ConfigError, IntegrityError

ENV_SIGNING_KEY = "MCP_COMPLY_AUDIT_SIGNING_KEY"
Processor = Callable[[Any, str, dict[str, Any]], dict[str, Any]]


def _redaction_key(policy: AuditPolicy, directory: Path) -> bytes:
    """The HMAC key for redaction digests: persisted (0600) so digests stay stable across restarts
    and differ between deployments."""
    path = Path(policy.redaction_key) if policy.redaction_key else directory / ".redaction.key"
    if path.exists():
        key = path.read_bytes().strip()
        if len(key) < 16:
            raise ConfigError("redaction key must be at least 16 bytes", source=str(path))
        return key
    if policy.redaction_key:
        raise ConfigError("redaction key file does not exist", source=str(path), path="audit.redaction_key")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    return key


class AuditSink:
    """Turns each CallRecord into a redacted audit record and hands it to the writer."""

    def __init__(self, policy: AuditPolicy, directory: Path, *, server_name: str, policy_name: str,
                 metrics: Any, schemas: Any = None, env: dict[str, str] | None = None) -> None:
        env = env if env is not None else dict(os.environ)
        key_path = policy.signing_key or env.get(ENV_SIGNING_KEY)
        signer = load_signer(Path(key_path)) if key_path else None
        self.redactor = Redactor(RedactionRules(capture=policy.capture, pii=policy.pii,
                                                deny_keys=DEFAULT_DENY_KEYS + tuple(policy.deny_keys),
                                                max_string=policy.max_string),
                                 _redaction_key(policy, directory))
        hooks = audit_metrics_hooks(metrics)
        self.writer = AuditWriter(WriterConfig(
            directory=directory,
            checkpoint_dir=Path(policy.checkpoint_dir) if policy.checkpoint_dir else None,
            fsync=policy.fsync, batch_window_s=policy.batch_window_ms / 1000, on_failure=policy.on_failure,
            checkpoint_every=policy.checkpoint_every, checkpoint_interval_s=policy.checkpoint_interval_s,
            max_segment_bytes=int(policy.max_segment_mb * 1024 * 1024),
            max_segment_age_s=policy.max_segment_age_h * 3600, retention_days=policy.retention_days,
            queue_max=policy.queue_max, signer=signer, origin_prefix=policy.origin,
            open_info={"server": server_name, "policy": policy_name, "capture": policy.capture},
            on_durable=hooks.on_durable, on_error=hooks.on_error,
            on_checkpoint=hooks.on_checkpoint))
        metrics.audit_queue_depth.set_function(lambda: self.writer.queue_depth)
        self.signed = signer is not None
        self.server_name = server_name
        self.policy_name = policy_name
        self.fail_closed = policy.on_failure == "fail-closed"
        self.wait_durable = policy.fsync == "always"
        self._schemas = schemas
        self._fragments: dict[object, str] = {}
        """Record text shared by many calls (see :meth:`_members`), written on the writer thread only."""
        self.processors: list[Processor] = []
        """structlog-style processors ``(logger, method_name, event_dict) -> event_dict``, run on the
        writer thread on every request record after redaction and before chaining: add context
        (deployment, tenant, ticket), rename or drop fields. They see only redacted values."""

    def _digest(self, value: Any) -> str:
        return "hmac-sha256:" + self.redactor.mac.hexdigest(fmt.dumps_canonical(value).encode("utf-8", "surrogatepass"))

    def _digest_field(self, value: Any) -> str | None:
        """A record's ``args_digest``/``result_digest``: None for no value, else the keyed digest, or,
        when the canonical JSON cannot be made (a result holding an integer longer than Python turns
        into text: a client can get one from a tool that adds two 4300-digit numbers), a placeholder
        naming the exception type (``unencodable:<type>``). The record keeps everything else (who called
        what)."""
        if value is None:
            return None
        try:
            return self._digest(value)
        except Exception as exc:  # noqa: BLE001 - one value's trouble must not cost the record its fields
            return f"unencodable:{type(exc).__name__}"  # a string, as a digest is: a log schema keeps its type

    def __call__(self, record: CallRecord) -> asyncio.Future[bool] | None:
        """On the request path: redact (arguments, error text, resource URI) and enqueue. The
        record body is built, digested and serialised on the writer thread. With ``fsync:
        always`` the returned future completes once the record is on disk (the middleware holds
        the response until then); otherwise nothing waits."""
        tool_call = record.method == semconv.METHOD_TOOLS_CALL
        schema = (self._schemas.schema(record.tool) if tool_call and self._schemas is not None and record.tool
                  else None)
        secrets: set[str] = set()
        args, pointers = self.redactor.arguments(record.arguments, schema, secrets)
        error = self.redactor.text(record.error_message, secrets) if record.error_message else None
        uri = self.redactor.uri(record.uri) if record.uri is not None else None
        # Processors run on the writer thread inside a copy of the request's context (O(1)), so
        # structlog.contextvars.merge_contextvars sees what the application bound for this request.
        context = contextvars.copy_context() if self.processors else None
        body = partial(self._body, record, args, pointers, error, uri, context)
        loop = _running_loop() if self.wait_durable else None
        if loop is None:
            self.writer.submit(fmt.KIND_CALL, body)
            return None
        future: asyncio.Future[bool] = loop.create_future()

        def durable(ok: bool) -> None:  # on the writer thread
            loop.call_soon_threadsafe(_resolve, future, ok)

        self.writer.submit(fmt.KIND_CALL, body, durable)
        return future

    def _body(self, record: CallRecord, args: Any, pointers: list[str], error: str | None, uri: str | None,
              context: contextvars.Context | None = None) -> dict[str, Any] | fmt.Members:
        if not self.processors:
            return self._members(record, args, pointers, error, uri)
        body: dict[str, Any] = {
            "method": record.method, "tool": record.tool, "outcome": record.outcome,
            "error_type": semconv_error_type(record) or None, "error_code": record.error_code,
            "exception_type": record.exception_type, "error_message": error,
            "duration_us": round(record.duration_s * 1e6), "request_id": record.request_id,
            "session_id": record.session_id, "correlation_id": record.correlation_id,
            "protocol_version": record.protocol_version, "transport": record.transport,
            "client": {"name": record.client_name, "version": record.client_version, "claimed": True},
            "principal": record.principal, "client_address": record.client_address,
            "trace_id": record.trace_id, "span_id": record.span_id,
            "server": self.server_name, "framework": record.framework, "policy": self.policy_name,
            "args": args, "redacted": pointers,
        }
        if uri is not None:
            body["uri"] = uri
        if record.method == semconv.METHOD_TOOLS_CALL:
            # Keyed (HMAC) digests of the raw arguments and result: equality stays checkable, the
            # values never reach disk.
            body["args_digest"] = self._digest_field(record.arguments)
            body["result_digest"] = self._digest_field(record.result)
        for processor in self.processors:
            try:
                changed: object = (context.run(processor, None, fmt.KIND_CALL, dict(body)) if context is not None
                           else processor(None, fmt.KIND_CALL, dict(body)))
            except Exception as exc:  # noqa: BLE001 - a user's processor must not lose the record
                body["processor_error"] = f"{type(exc).__name__}: {exc}"[:200]
                continue
            if isinstance(changed, dict):
                body = changed  # header names in it are renamed by the encoder, never obeyed
            else:
                body["processor_error"] = f"returned {type(changed).__name__}, not a dict"
        return body

    def _members(self, record: CallRecord, args: Any, pointers: list[str], error: str | None,
                 uri: str | None) -> fmt.Members:
        """The body :meth:`_body` builds without processors, written straight to its JSON text: the
        same bytes as encoding that dict (tests/audit/test_sink.py proves it), without the dict."""
        error_type = semconv_error_type(record)
        try:
            args_text = _value(args)
        except ValueError:  # a non-finite float (a client may send NaN): kept as its name
            args_text = fmt.dumps(fmt.finite(args))
        # What a call shares with others (its method, tool and outcome; its session and client;
        # this server) is written once and reused: the same text, fewer encoder calls per record.
        what = (record.method, record.tool, record.outcome, error_type, record.error_code, record.exception_type,
                type(record.error_code))  # (a key that compares equal writes the same text: True is not 1)
        who = (record.session_id, record.correlation_id, record.protocol_version, record.transport,
               record.client_name, record.client_version, record.principal, record.client_address)
        try:
            what_text = self._fragments.get(what) or self._fragment(what, _what_text(*what[:-1]))
            who_text = self._fragments.get(who) or self._fragment(who, _who_text(*who))
            where_text = self._fragments.get(record.framework) or self._fragment(
                record.framework, f'"server":{_value(self.server_name)},"framework":{_value(record.framework)},'
                f'"policy":{_value(self.policy_name)}')
        except TypeError:  # a field of an unexpected (unhashable) type: written without the cache
            what_text, who_text = _what_text(*what[:-1]), _who_text(*who)
            where_text = (f'"server":{_value(self.server_name)},"framework":{_value(record.framework)},'
                          f'"policy":{_value(self.policy_name)}')
        text = (
            f'{what_text},"error_message":{_value(error)},'
            f'"duration_us":{_number(round(record.duration_s * 1e6))},"request_id":{_value(record.request_id)},'
            f'{who_text},"trace_id":{_value(record.trace_id)},"span_id":{_value(record.span_id)},{where_text},'
            f'"args":{args_text},"redacted":{_value(pointers)}')
        if uri is not None:
            text += f',"uri":{_value(uri)}'
        if record.method == semconv.METHOD_TOOLS_CALL:
            text += (f',"args_digest":{_value(self._digest_field(record.arguments))},'
                     f'"result_digest":{_value(self._digest_field(record.result))}')
        return fmt.Members(text)

    def _fragment(self, key: object, text: str) -> str:
        """Remember ``text`` for ``key`` (bounded: cleared when full; a long text is not kept, so a
        client's long names cannot make the cache large)."""
        if len(text) <= _FRAGMENT_MAX_CHARS:
            if len(self._fragments) >= _FRAGMENTS_MAX:
                self._fragments.clear()
            self._fragments[key] = text
        return text

    def add_processor(self, processor: Processor) -> None:
        self.processors.append(processor)

    async def gate(self, req: Any) -> None:
        """Fail-closed: a durable intent record, or the call is refused."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()

        def settle(ok: bool) -> None:
            if not future.done():
                future.set_result(ok)

        def done(ok: bool) -> None:
            loop.call_soon_threadsafe(settle, ok)

        self.writer.submit(fmt.KIND_INTENT, {"method": req.method, "tool": req.tool,
                                             "request_id": request_id_text(req.request_id)}, done)
        if not await future:
            raise AuditRefusal

    def close(self) -> None:
        self.writer.close()


_FRAGMENTS_MAX = 1024
_FRAGMENT_MAX_CHARS = 512


def _what_text(method: Any, tool: Any, outcome: Any, error_type: Any, error_code: Any, exception_type: Any) -> str:
    return (f'"method":{_value(method)},"tool":{_value(tool)},"outcome":{_value(outcome)},'
            f'"error_type":{_value(error_type or None)},"error_code":{_number(error_code)},'
            f'"exception_type":{_value(exception_type)}')


def _who_text(session_id: Any, correlation_id: Any, protocol_version: Any, transport: Any, client_name: Any,
              client_version: Any, principal: Any, client_address: Any) -> str:
    return (f'"session_id":{_value(session_id)},"correlation_id":{_value(correlation_id)},'
            f'"protocol_version":{_value(protocol_version)},"transport":{_value(transport)},'
            f'"client":{{"name":{_value(client_name)},"version":{_value(client_version)},"claimed":true}},'
            f'"principal":{_value(principal)},"client_address":{_value(client_address)}')


def _value(value: Any) -> str:
    """One value as the record encoder writes it (a string or null without the general encoder)."""
    if type(value) is str:
        return fmt.quote(value)
    return "null" if value is None else fmt.dumps(value)


def _number(value: Any) -> str:
    return repr(value) if type(value) is int else _value(value)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # called outside an event loop: nothing to hold, the record still goes in
        return None


def _resolve(future: asyncio.Future[bool], ok: bool) -> None:
    if not future.done():
        future.set_result(ok)


class AuditRefusal(IntegrityError):
    """The fail-closed policy refuses a call whose audit record cannot be made durable."""
