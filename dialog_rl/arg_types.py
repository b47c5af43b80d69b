"""Argument types of the command line, shared by every subcommand's parser.

``dialog_rl/cli/options.py`` gives them to the options it defines once for every subcommand.
A shared module (it imports no layer), so a layer's own script may parse with them too.
argparse only, so ``--help`` stays instant.
"""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """A whole number >= 1, or an argparse error that says what was wrong."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def probability(text: str) -> float:
    """A number in [0, 1], or an argparse error that says what was wrong."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number between 0 and 1, got {text!r}"
        ) from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {value}")
    return value
