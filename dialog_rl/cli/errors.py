"""The command line's own error: a mistake in how a command was called."""

from __future__ import annotations


class UsageError(Exception):
    """A mistake in how the command was called: reported in one line, exit code 2."""
