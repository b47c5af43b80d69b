"""``dialog-rl``: build the parser of every subcommand, run the one asked for, report its errors.

Errors a user can fix (arguments, scenario, policy, outputs) are one line and exit code 2; a run
whose inputs were fine but which failed (NaN, dying workers, a full disk) is one line and exit
code 1; nothing prints a traceback for those.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import errno
import gc
import os
import sys

from dialog_rl.cli import calibrate, compare, logs, ope, regress, simulate, train, tui, validate
from dialog_rl.cli.errors import UsageError

#: errors of a disk that cannot take more (full, over quota, file too big): one line, exit 1
_DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)

#: the subcommands, in the order ``--help`` lists them
SUBCOMMANDS = (validate, simulate, train, tui, compare, calibrate, regress, ope, logs)


def _skip_final_gc() -> None:
    """At interpreter exit, leave every object out of the garbage collector's final passes
    (``gc.freeze`` in an ``atexit`` handler): with torch, numba and numpy loaded they traverse
    ~350k objects several times, 0.6 s of CPU at the end of every command. Files are closed and
    outputs renamed into place before that; only unreachable cycles go unfinalized."""
    if not getattr(_skip_final_gc, "done", False):
        atexit.register(gc.freeze)
        _skip_final_gc.done = True


@contextlib.contextmanager
def _fewer_full_collections():
    """A tenth as many full garbage-collection passes while a command runs (the third
    threshold 100 instead of 10): importing torch and numba alone set off four passes over a
    growing heap, 0.25 s of CPU, and none of what a command builds is cyclic garbage worth
    that. Collections of the young generations go on as usual; the thresholds are put back."""
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], max(thresholds[2], 100))
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dialog-rl",
        description="Simulate, train and evaluate the decision policies of conversational agents.",
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for command in SUBCOMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _skip_final_gc()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    if getattr(args, "prepare", None):
        args.prepare(args)  # what may start before the imports below (simulate's fork server)
    from dialog_rl.numerics import NumericalError
    from dialog_rl.outputs import OutputError
    from dialog_rl.policies.base import PolicyError
    from dialog_rl.run_errors import RunFailedError
    from dialog_rl.scenario import ScenarioError

    try:
        with _fewer_full_collections():
            return int(args.handler(args, argv) or 0)
    except (UsageError, ScenarioError, PolicyError, OutputError) as err:
        print(f"dialog-rl: error: {err}", file=sys.stderr)
        return 2
    except NumericalError as err:
        # exit 1, not 2: every input was valid (NaN/inf in a scenario is refused at load, exit 2);
        # the run itself produced a NaN or inf, and the message says where it entered
        print(f"dialog-rl: numerical error: {err}", file=sys.stderr)
        return 1
    except RunFailedError as err:
        print(f"dialog-rl: run failed: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # before OSError, its base class
        # The reader went away (`dialog-rl ... | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as err:
        if err.errno not in _DISK_ERRORS:
            raise
        # exit 1: the inputs were fine, the disk was not; every file is written whole (temporary
        # name, then rename), so what is there is whole and a run's --resume continues it
        where = f" {err.filename}" if err.filename else ""
        print(
            f"dialog-rl: cannot write{where}: {err.strerror or err}; nothing half-written was "
            "left: make room, then run the same command again (simulate/train: with --resume)",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("dialog-rl: interrupted", file=sys.stderr)
        return 130
