"""``dialog-rl regress`` (the gate, offline with ``--logs``), ``regress record`` and ``regress
check`` (golden conversations). The work is ``dialog_rl.regress.command``'s.

Exit codes: 0 pass, 1 regression (or changed golden conversations), 2 usage error (bad
arguments, scenario, policy, logs or golden file, or a scenario that fails its health checks).
"""

from __future__ import annotations

import argparse

from dialog_rl.cli.errors import UsageError
from dialog_rl.cli.options import (
    BOOTSTRAP,
    EPISODES,
    FORCE,
    JSON,
    LIFETIME,
    LOGS,
    MAX_TURNS,
    NO_PROGRESS,
    NOISE,
    OUT,
    POLICY,
    SCENARIO,
    SEED,
    add_exploration,
    positive_int,
)

GATE_EXAMPLE = (
    "example: dialog-rl regress --baseline rule --candidate rule:early-handover "
    "--scenario scenarios/restaurant.yaml --noise 0.15 --episodes 2000 --seed 0"
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """``regress`` and its subcommands ``record`` and ``check``."""
    p = sub.add_parser(
        "regress",
        help="regression gate: is a candidate policy worse than the baseline? (paired, sequential)",
        description="Compare a candidate policy with a baseline on the same simulated customers "
        "(or on logged conversations with --logs) and give a verdict: better, no worse within "
        "the margin, inconclusive, or worse. Exit code 0 pass, 1 regression, 2 usage error.",
        epilog=GATE_EXAMPLE + "\npolicies: random, rule, a run directory, or rule variants "
        "rule:noconfirm, rule:early-handover, rule:eps=0.1, rule:confirm-below=0.8",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_gate_options(p)
    p.set_defaults(handler=_run("cmd_regress"), regress_cmd=None)
    rsub = p.add_subparsers(title="golden conversations", dest="regress_cmd", metavar="")
    _add_record_parser(rsub)
    _add_check_parser(rsub)


def _add_gate_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--baseline", help="the policy in production: name or run directory")
    p.add_argument("--candidate", help="the new policy: name or run directory")
    SCENARIO.add(p)
    NOISE.add(p, shown_default="the scenario's")
    EPISODES.add(p, detail="paired, at most", shown_default="2000")
    SEED.add(p, shown_default="0")
    p.add_argument("--margin", type=float, default=0.02, help="regression that matters (0.02)")
    p.add_argument("--alpha", type=float, default=0.05, help="false-alarm rate (0.05)")
    p.add_argument(
        "--metric",
        choices=("success", "reward", "turns", "hangup", "value", "retention", "visits"),
        default=None,
        help="the metric the verdict is about (default: success; with --lifetime: value; "
        "value, retention and visits need --lifetime)",
    )
    LIFETIME.add(
        p,
        detail="compare whole customers (metrics value, retention, visits, success; pairing "
        "episode)",
    )
    p.add_argument("--looks", type=positive_int, default=5, help="interim analyses (5)")
    p.add_argument("--spending", choices=("obf", "pocock"), default="obf", help="error spending")
    p.add_argument(
        "--pairing",
        choices=("act", "turn", "episode", "none"),
        default=None,
        help="how random draws are shared (act: tightest, the default; episode: as simulate "
        "plays them; none: other customers, unpaired)",
    )
    p.add_argument(
        "--independent-exploration",
        action="store_true",
        help="give the candidate its own exploration stream",
    )
    MAX_TURNS.add(p, shown_default="the scenario's")
    p.add_argument(
        "--health-episodes",
        type=int,
        default=None,
        help="conversations per policy for the health checks (200; 0 skips them)",
    )
    p.add_argument(
        "--fail-inconclusive", action="store_true", help="an inconclusive verdict fails too"
    )
    LOGS.add(p, detail="offline: judge on them instead of simulating")
    p.add_argument(
        "--estimator",
        choices=("WIS", "IS", "WPDIS", "PDIS"),
        default="WIS",
        help="offline estimator (WIS)",
    )
    BOOTSTRAP.add(p, default=2000, detail="offline")
    p.add_argument("--junit", default=None, help="write a JUnit XML report here")
    p.add_argument("--markdown", default=None, help="write a Markdown report here")
    JSON.add(p)
    NO_PROGRESS.add(p)
    add_exploration(p, explore=True)


def _add_record_parser(rsub: argparse._SubParsersAction) -> None:
    r = rsub.add_parser(
        "record",
        help="save deterministic transcripts of a policy's conversations",
        description="Play the conversations of each seed and save them as a golden JSON file.",
    )
    SCENARIO.add(r, required=True)
    POLICY.add(r, required=True)
    r.add_argument("--seeds", default="0", help="run seeds, e.g. 0,1,2 or 0-4 (default: 0)")
    EPISODES.add(r, default=10, detail="per seed")
    NOISE.add(r, shown_default="the scenario's")
    MAX_TURNS.add(r, shown_default="the scenario's")
    OUT.add(r, required=True, detail="golden file (JSON)")
    FORCE.add(r, detail="a golden file")
    add_exploration(r, explore=True)
    r.set_defaults(handler=_run("cmd_record"))


def _add_check_parser(rsub: argparse._SubParsersAction) -> None:
    c = rsub.add_parser(
        "check",
        help="replay golden conversations and show where they changed",
        description="Replay a golden file; show the first turn at which each conversation "
        "changed. Exit code 0 all match, 1 some changed, 2 usage error.",
    )
    c.add_argument("golden", help="golden file written by `dialog-rl regress record`")
    POLICY.add(c, detail="replay with it instead of the recorded one")
    SCENARIO.add(c, detail="replay on it instead of the recorded one")
    c.add_argument("--limit", type=positive_int, default=10, help="changes to show (10)")
    c.add_argument(
        "--color", choices=("auto", "always", "never"), default="auto", help="colour the diff"
    )
    c.set_defaults(handler=_run("cmd_check"))


def _run(name: str):
    """The handler that runs ``dialog_rl.regress.command``'s ``name``, imported when it runs,
    with this package's input errors as usage errors."""

    def handler(args: argparse.Namespace, argv: list[str]) -> int:
        from dialog_rl.ope.validation import OPEInputError
        from dialog_rl.regress import command
        from dialog_rl.regress.gate import HealthError
        from dialog_rl.regress.golden import GoldenError

        if name == "cmd_regress":
            _check_gate_arguments(args)
        try:
            return getattr(command, name)(args, argv, UsageError)
        except (OPEInputError, GoldenError, HealthError) as err:
            raise UsageError(str(err)) from None

    return handler


def _check_gate_arguments(args: argparse.Namespace) -> None:
    missing = [f"--{k}" for k in ("baseline", "candidate", "scenario") if not getattr(args, k)]
    if missing:
        raise UsageError(
            f"regress needs {', '.join(missing)} (or use `regress record` / `regress check`); "
            + GATE_EXAMPLE
        )
