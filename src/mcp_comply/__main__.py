"""``python -m mcp_comply``: the ``mcp-comply`` command."""

from mcp_comply.cli import main

raise SystemExit(main())
