"""Runs that stop on a failure of the machinery, not of their input (one line, exit code 1).

Kept free of heavy imports: the command line catches these for every subcommand.
"""

from __future__ import annotations


class RunFailedError(RuntimeError):
    """A run that stopped part-way for a reason outside its inputs (a worker that kept dying);
    what it wrote stays on disk, so ``--resume`` finishes it."""


class WorkerLostError(RunFailedError):
    """Workers of a process pool or Ray actors kept dying, even after their episodes were
    handed out again."""
