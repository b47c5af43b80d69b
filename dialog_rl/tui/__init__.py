"""The terminal UI: step through conversations, see why, override the agent, teach it.

Only ``dialog_rl.tui.app`` and the modules it imports (screens, widgets, messages) import textual.
The session model (``session``), typed-customer driver (``customer``), exports (``export``) and
teaching (``teach``) are plain Python, so they are tested and reused without a terminal.
"""
