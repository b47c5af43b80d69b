"""The ``dialog-rl`` command: one module per subcommand, the options they share in ``options``.

Every module here imports only argparse at module level (the machinery is imported when a
subcommand runs), so ``dialog-rl --help`` is instant. ``entry.main`` is the console script.
"""

from dialog_rl.cli.entry import build_parser, main
from dialog_rl.cli.errors import UsageError

__all__ = ["UsageError", "build_parser", "main"]
