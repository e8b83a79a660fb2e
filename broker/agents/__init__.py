"""Agents at session start: the session record, and the integration files for agent tools.

sessions.py holds what ``capbroker session start`` leaves behind (the record every later
command, hook and ``capbroker mcp`` reads) and the shell forms of its variables;
setup.py the options and the capbroker commands the hooks run; claude_code.py, cursor.py,
codex.py and mcp_config.py generate each tool's files from the options and the file
already there (pure); shell_guard.py decides whether a shell command carries a raw
provider credential or calls a provider's host around the gateway (pure).
"""
