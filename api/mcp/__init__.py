"""The MCP server (`vtrag mcp`): vtrag's search, answers, page reading and page images as tools for agents."""
