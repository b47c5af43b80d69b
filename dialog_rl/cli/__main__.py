"""``python -m dialog_rl.cli``: the ``dialog-rl`` command."""

import sys

from dialog_rl.cli.entry import main

sys.exit(main())
