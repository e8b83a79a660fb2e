"""``capbroker mcp``: an MCP server over stdio for an agent to verify before it acts.

answers.py turns the session and the gateway's answers into short structured replies
that say what to do next (pure); calls.py asks the gateway with the session's capability
token (never the master key: the gateway holds that); server.py registers the tools on
the official ``mcp`` SDK.
"""
