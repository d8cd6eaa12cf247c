"""MCP gateways: the tool catalog served as Streamable HTTP MCP endpoints at ``/mcp/{slug}`` (docs/mcp.md)."""
