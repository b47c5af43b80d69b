"""The ``dialog-rl regress`` subcommand: the gate, its offline mode, and golden conversations.

Only argparse is imported here at module level, so ``dialog-rl --help`` stays instant; the
machinery is imported when the subcommand runs. Exit codes: 0 pass, 1 regression (or changed
golden conversations), 2 usage error (bad arguments, scenario, policy, logs or golden file, or a
scenario that fails its health checks).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

GATE_EXAMPLE = (
    "example: dialog-rl regress --baseline rule --candidate rule:early-handover "
    "--scenario scenarios/restaurant.yaml --noise 0.15 --episodes 2000 --seed 0"
)


def add_regress_parser(sub: argparse._SubParsersAction, error: type[Exception]) -> None:
    """Register ``regress`` (and ``regress record`` / ``regress check``) on the CLI's subparsers.

    ``error`` is the CLI's usage-error class (reported in one line, exit code 2).
    """
    from dialog_rl.arg_types import positive_int as _positive_int
    from dialog_rl.arg_types import probability as _probability

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
    p.add_argument("--baseline", help="the policy in production: name or run directory")
    p.add_argument("--candidate", help="the new policy: name or run directory")
    p.add_argument("--scenario", help="scenario YAML file, or a shipped one by name (restaurant)")
    p.add_argument("--noise", type=_probability, default=None, help="semantic error rate (0-1)")
    p.add_argument("--episodes", type=_positive_int, default=None, help="most paired episodes")
    p.add_argument("--seed", type=int, default=None, help="the one seed of the customers")
    p.add_argument("--margin", type=float, default=0.02, help="regression that matters (0.02)")
    p.add_argument("--alpha", type=float, default=0.05, help="false-alarm rate (0.05)")
    p.add_argument(
        "--metric",
        choices=("success", "reward", "turns", "hangup", "value", "retention", "visits"),
        default=None,
        help="the metric the verdict is about (default: success; with --lifetime: value; "
        "value, retention and visits need --lifetime)",
    )
    p.add_argument(
        "--lifetime",
        action="store_true",
        help="compare whole customer lifetimes (metrics value, retention, visits, success; "
        "pairing episode)",
    )
    p.add_argument("--looks", type=_positive_int, default=5, help="interim analyses (5)")
    p.add_argument("--spending", choices=("obf", "pocock"), default="obf", help="error spending")
    p.add_argument(
        "--pairing",
        choices=("act", "turn", "episode", "none"),
        default=None,
        help="how random draws are shared (act: tightest, the default; episode: as simulate "
        "plays them; none: other customers, unpaired)",
    )
    p.add_argument("--greedy", action="store_true", help="act greedily (no exploration)")
    p.add_argument(
        "--independent-exploration",
        action="store_true",
        help="give the candidate its own exploration stream",
    )
    p.add_argument("--max-turns", type=_positive_int, default=None, help="override turn limit")
    p.add_argument(
        "--health-episodes",
        type=int,
        default=None,
        help="conversations per policy for the health checks (200; 0 skips them)",
    )
    p.add_argument(
        "--fail-inconclusive", action="store_true", help="an inconclusive verdict fails too"
    )
    p.add_argument("--logs", default=None, help="offline: judge on these logged conversations")
    p.add_argument(
        "--estimator",
        choices=("WIS", "IS", "WPDIS", "PDIS"),
        default="WIS",
        help="offline estimator (WIS)",
    )
    p.add_argument("--bootstrap", type=_positive_int, default=2000, help="offline resamples")
    p.add_argument("--junit", default=None, help="write a JUnit XML report here")
    p.add_argument("--markdown", default=None, help="write a Markdown report here")
    p.add_argument("--json", default=None, help="write the result as JSON here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=_run(cmd_regress, error), regress_cmd=None)

    rsub = p.add_subparsers(title="golden conversations", dest="regress_cmd", metavar="")
    r = rsub.add_parser(
        "record",
        help="save deterministic transcripts of a policy's conversations",
        description="Play the conversations of each seed and save them as a golden JSON file.",
    )
    r.add_argument(
        "--scenario",
        required=True,
        help="scenario YAML file, or a shipped one by name (restaurant)",
    )
    r.add_argument("--policy", required=True, help="policy name or run directory")
    r.add_argument("--seeds", default="0", help="run seeds, e.g. 0,1,2 or 0-4 (default: 0)")
    r.add_argument("--episodes", type=_positive_int, default=10, help="conversations per seed (10)")
    r.add_argument("--noise", type=_probability, default=None, help="semantic error rate (0-1)")
    r.add_argument("--max-turns", type=_positive_int, default=None, help="override turn limit")
    r.add_argument("--greedy", action="store_true", help="act greedily (no exploration)")
    r.add_argument("--out", required=True, help="golden file to write (JSON)")
    r.add_argument("--force", action="store_true", help="replace an existing file")
    r.set_defaults(handler=_run(cmd_record, error))

    c = rsub.add_parser(
        "check",
        help="replay golden conversations and show where they changed",
        description="Replay a golden file; show the first turn at which each conversation "
        "changed. Exit code 0 all match, 1 some changed, 2 usage error.",
    )
    c.add_argument("golden", help="golden file written by `dialog-rl regress record`")
    c.add_argument("--policy", default=None, help="replay with this policy instead")
    c.add_argument("--scenario", default=None, help="replay on this scenario file instead")
    c.add_argument("--limit", type=_positive_int, default=10, help="changes to show (10)")
    c.add_argument(
        "--color", choices=("auto", "always", "never"), default="auto", help="colour the diff"
    )
    c.set_defaults(handler=_run(cmd_check, error))


def _run(fn, error: type[Exception]):
    """Bind the CLI's usage-error class, and turn this package's input errors into it."""

    def handler(args: argparse.Namespace, argv: list[str]) -> int:
        from dialog_rl.ope.validation import OPEInputError
        from dialog_rl.regress.gate import HealthError
        from dialog_rl.regress.golden import GoldenError

        try:
            return fn(args, argv, error)
        except (OPEInputError, GoldenError, HealthError) as err:
            raise error(str(err)) from None

    return handler


# -- the gate ----------------------------------------------------------------------------------


def cmd_regress(args: argparse.Namespace, argv: list[str], error: type[Exception]) -> int:
    missing = [f"--{k}" for k in ("baseline", "candidate", "scenario") if not getattr(args, k)]
    if missing:
        raise error(
            f"regress needs {', '.join(missing)} (or use `regress record` / `regress check`); "
            + GATE_EXAMPLE
        )
    if not 0.0 < args.alpha < 0.5:
        raise error(f"--alpha must be between 0 and 0.5, got {args.alpha}")
    if not args.margin > 0:
        raise error(f"--margin must be > 0, got {args.margin}")
    from dialog_rl.scenario import resolve_scenario

    if not resolve_scenario(args.scenario).is_file():
        raise error(f"--scenario {args.scenario}: no such file, nor a shipped scenario")
    domain = _check_lifetime_options(args, error)
    from dialog_rl.outputs import check_replaceable_file

    for flag in ("junit", "markdown", "json"):  # before the run: refuse what is not ours
        if getattr(args, flag):
            check_replaceable_file(getattr(args, flag), "regress", f"--{flag}")
    if args.logs is not None:
        return _offline(args, error)
    from dialog_rl.regress.gate import GateConfig, run_gate
    from dialog_rl.regress.report import junit_xml, markdown_report, text_report

    config = GateConfig(
        scenario=args.scenario,
        baseline=args.baseline,
        candidate=args.candidate,
        episodes=args.episodes or 2000,
        seed=0 if args.seed is None else args.seed,
        noise=args.noise,
        margin=args.margin,
        alpha=args.alpha,
        metric=args.metric,
        looks=args.looks,
        spending=args.spending,
        pairing=args.pairing,
        explore=not args.greedy,
        independent_exploration=args.independent_exploration,
        max_turns=args.max_turns,
        health_episodes=200 if args.health_episodes is None else max(0, args.health_episodes),
        fail_inconclusive=args.fail_inconclusive,
        lifetime=args.lifetime,
    )
    progress, close = _progress_bar(args.no_progress)
    try:
        result = run_gate(config, progress=progress, domain=domain)
    finally:
        close()

    sys.stdout.write(text_report(result))
    _write_reports(args, junit_xml(result), markdown_report(result), result.to_dict())
    return 0 if result.passed else 1


def _check_lifetime_options(args: argparse.Namespace, error: type[Exception]):
    """Resolve ``--metric``'s default, and refuse options a lifetime gate cannot honour; return
    the scenario's domain when it was loaded to check it (a lifetime gate), else None."""
    from dialog_rl.regress.gate import LIFETIME_METRICS, METRICS

    if args.metric is None:
        args.metric = "value" if args.lifetime else "success"
    if not args.lifetime:
        if args.metric not in METRICS:
            raise error(f"--metric {args.metric} is a lifetime metric: add --lifetime")
        return None
    if args.logs is not None:
        raise error("--lifetime compares simulated customers; --logs is for conversations only")
    if args.metric not in LIFETIME_METRICS:
        raise error(
            f"--metric {args.metric}: a lifetime gate decides on {', '.join(LIFETIME_METRICS)}"
        )
    if args.pairing in ("act", "turn"):
        raise error(f"--pairing {args.pairing}: a lifetime gate pairs customers (episode or none)")
    from dialog_rl.domain import load_domain

    domain = load_domain(args.scenario)
    if domain.lifetime is None:
        raise error(f"{args.scenario}: no `lifetime` section, so no returning customers to compare")
    return domain


def _offline(args: argparse.Namespace, error: type[Exception]) -> int:
    ignored = [
        flag
        for flag, value in (
            ("--episodes", args.episodes),
            ("--seed", args.seed),
            ("--noise", args.noise),
            ("--pairing", args.pairing),
            ("--max-turns", args.max_turns),
            ("--health-episodes", args.health_episodes),
        )
        if value is not None
    ]
    if ignored:
        raise error(
            f"--logs judges logged conversations; {', '.join(ignored)}: for simulation only"
        )

    from dialog_rl.regress.offline import (
        OfflineConfig,
        offline_junit,
        offline_markdown,
        offline_text,
        run_offline,
    )

    config = OfflineConfig(
        scenario=args.scenario,
        baseline=args.baseline,
        candidate=args.candidate,
        logs=args.logs,
        margin=args.margin,
        alpha=args.alpha,
        metric=args.metric,
        estimator=args.estimator,
        n_bootstrap=args.bootstrap,
        explore=not args.greedy,
    )
    result = run_offline(config)
    sys.stdout.write(offline_text(result))
    _write_reports(args, offline_junit(result), offline_markdown(result), result.to_dict())
    return 0 if result.passed else 1


def _write_reports(args: argparse.Namespace, junit: bytes, markdown: str, data: dict) -> None:
    """Write the reports asked for, each whole and stamped, replacing only earlier reports."""
    import json

    from dialog_rl.outputs import stamp, with_marker, write_file

    reports = {
        "junit": with_marker(junit, "regress"),
        "markdown": with_marker(markdown.encode(), "regress"),
        "json": (json.dumps({**data, **stamp("regress")}, indent=2) + "\n").encode(),
    }
    for flag, content in reports.items():
        if getattr(args, flag):
            write_file(getattr(args, flag), content, "regress", f"--{flag}")


def _progress_bar(disabled: bool):
    if disabled:
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(total=0, unit="pair", file=sys.stderr, disable=None, leave=False)

    def update(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
        bar.n = done
        if done % 50 == 0 or done == total:
            bar.refresh()

    return update, bar.close


# -- golden conversations ----------------------------------------------------------------------


def parse_seeds(text: str, error: type[Exception]) -> tuple[int, ...]:
    """``0,1,5-7`` -> (0, 1, 5, 6, 7)."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part[1:]:
                i = part.index("-", 1)
                lo, hi = int(part[:i]), int(part[i + 1 :])
                if hi < lo:
                    raise ValueError
                seeds.extend(range(lo, hi + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise error(f"--seeds: expected numbers or ranges like 0,1,5-7, got {text!r}") from None
    return tuple(dict.fromkeys(seeds))


def cmd_record(args: argparse.Namespace, argv: list[str], error: type[Exception]) -> int:
    from dialog_rl.outputs import check_replaceable_file
    from dialog_rl.regress.golden import GoldenConfig, record, save

    out = Path(args.out)
    if out.exists() and not args.force:
        raise error(f"--out {out} already exists; choose another name or pass --force")
    # --force replaces only a golden file (one written before stamps: a version and conversations)
    check_replaceable_file(out, "golden", "--out", legacy=("version", "conversations"))
    config = GoldenConfig(
        scenario=args.scenario,
        policy=args.policy,
        seeds=parse_seeds(args.seeds, error),
        episodes=args.episodes,
        noise=args.noise,
        max_turns=args.max_turns,
        explore=not args.greedy,
    )
    doc = record(config)
    save(doc, out)
    convs = doc["conversations"]
    turns = sum(len(c["turns"]) for c in convs)
    wins = sum(c["outcome"]["success"] for c in convs)
    print(
        f"recorded {len(convs)} conversations ({turns} turns, {wins} successes) of policy "
        f"{args.policy} on {args.scenario} to {out}"
    )
    return 0


def cmd_check(args: argparse.Namespace, argv: list[str], error: type[Exception]) -> int:
    from dialog_rl.regress.golden import check, format_check

    result = check(args.golden, policy=args.policy, scenario=args.scenario)
    color = args.color == "always" or (
        args.color == "auto" and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    )
    sys.stdout.write(format_check(result, color=color, limit=args.limit))
    return 0 if result.ok else 1
