"""The audit trail stands below the runtime adapters: it never imports a framework adapter."""

from __future__ import annotations

import json
import subprocess
import sys


def test_audit_imports_no_instrument_module() -> None:
    code = ("import json, sys; import mcp_comply.audit.sink, mcp_comply.audit.verify, mcp_comply.audit.cli; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('mcp_comply.instrument'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
