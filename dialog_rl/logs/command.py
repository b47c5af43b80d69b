"""``dialog-rl logs schema|import|export``: bring your own logged decisions, take them elsewhere.

Registered on the CLI with argparse only (``--help`` stays instant); the work is imported when a
subcommand runs.
"""

from __future__ import annotations

import argparse
import sys

EXAMPLE = (
    "examples:\n"
    "  dialog-rl logs schema\n"
    "  dialog-rl logs import my_logs.csv --scenario restaurant --out runs/mine\n"
    "  dialog-rl ope --logs runs/mine --policy rule\n"
    "  dialog-rl logs export --logs runs/mine --policy rule --format obp --out mine_obp.npz"
)


def add_logs_parser(sub: argparse._SubParsersAction, error: type[Exception]) -> None:
    """Register ``logs`` on the CLI's subparsers; ``error`` is the CLI's usage-error class."""
    p = sub.add_parser(
        "logs",
        help="your own logged decisions: the schema, import, export to OBP / SCOPE-RL",
        description="Bring logged decisions from production into dialog-rl (off-policy "
        "evaluation, offline gates) and take dialog-rl logs to Open Bandit Pipeline or SCOPE-RL.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    logs = p.add_subparsers(title="subcommands", metavar="SUBCOMMAND")

    s = logs.add_parser("schema", help="print the log schema (columns, types, meaning)")
    s.add_argument("--json", action="store_true", help="as JSON")
    s.set_defaults(handler=_schema)

    i = logs.add_parser(
        "import",
        help="check a CSV/Parquet/JSONL of logged decisions and write it as a dialog-rl log",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    i.add_argument("file", help="CSV, Parquet or JSONL file following `dialog-rl logs schema`")
    i.add_argument(
        "--scenario",
        default=None,
        help="acts shape: the scenario to replay the acts on (shipped name or YAML file)",
    )
    i.add_argument(
        "--noise",
        type=float,
        default=None,
        help="acts shape: the channel's error rate in production, recorded for `ope --truth` "
        "(default: the scenario's)",
    )
    i.add_argument("--out", required=True, help="run directory to write")
    i.add_argument(
        "--force",
        action="store_true",
        help="replace --out if it is an earlier `logs import` (nothing else is ever replaced)",
    )

    def run_import(args: argparse.Namespace, argv: list[str]) -> int:
        from dialog_rl.logs.importer import LogImportError, import_logs

        if args.noise is not None and not 0.0 <= args.noise <= 1.0:
            raise error(f"--noise must be between 0 and 1, got {args.noise}")
        try:
            r = import_logs(
                args.file,
                args.out,
                scenario=args.scenario,
                noise=args.noise,
                force=args.force,
                command=["dialog-rl", *argv],
            )
        except LogImportError as err:
            raise error(str(err)) from None
        print(
            f"{args.file}: {r.decisions} decisions in {r.conversations} conversations "
            f"({r.shape} shape) -> {r.out}"
        )
        target = "rule" if r.shape == "acts" else "logged"
        print(f"  evaluate: dialog-rl ope --logs {r.out} --policy {target}")
        return 0

    i.set_defaults(handler=run_import)

    e = logs.add_parser(
        "export",
        help="write a dialog-rl log as Open Bandit Pipeline's bandit_feedback or SCOPE-RL's "
        "logged_dataset (.npz)",
    )
    e.add_argument("--logs", required=True, help="run directory (simulate --out, logs import)")
    e.add_argument("--format", required=True, choices=("obp", "scope-rl"), help="library")
    e.add_argument(
        "--policy",
        required=True,
        help="the target whose action distribution goes with it: random, rule, a run directory, "
        "or `logged` (features-shaped imports)",
    )
    e.add_argument("--scenario", default=None, help="scenario (default: the logs' own)")
    e.add_argument("--explore", action="store_true", help="the target as it explores")
    e.add_argument(
        "--out",
        required=True,
        help=".npz file to write; an existing file is replaced only if it is a dialog-rl export",
    )

    def run_export(args: argparse.Namespace, argv: list[str]) -> int:
        from dialog_rl.logs.export import KIND, obp_feedback, scope_rl_dataset, write_export
        from dialog_rl.ope.command import target_distribution
        from dialog_rl.ope.errors import OPEInputError
        from dialog_rl.ope.logged import load_logged
        from dialog_rl.outputs import check_replaceable_file

        check_replaceable_file(args.out, KIND, "--out")  # before the work; again when writing
        try:
            logged = load_logged(args.logs)
            dist = target_distribution(logged, args.policy, args.scenario, args.explore)
        except OPEInputError as err:
            raise error(str(err)) from None
        if args.format == "obp":
            data = obp_feedback(logged, dist)
            how = (
                "bandit_feedback = dialog_rl.logs.export.load_export(path); one round per decision"
            )
        else:
            logger = ((logged.summary or {}).get("policy") or {}).get("name", "logger")
            data = scope_rl_dataset(logged, dist, behavior_policy=str(logger))
            how = (
                "dialog_rl.logs.export.load_export(path) gives SCOPE-RL's logged_dataset "
                "(+ evaluation_policy_action_dist)"
            )
        path = write_export(args.out, data)
        print(
            f"wrote {path}: {logged.n_episodes} conversations, {int(logged.valid.sum())} "
            f"decisions, target {args.policy} ({how})"
        )
        return 0

    e.set_defaults(handler=run_export)

    def no_subcommand(args: argparse.Namespace, argv: list[str]) -> int:
        p.print_help(sys.stderr)
        return 2

    p.set_defaults(handler=no_subcommand)


def _schema(args: argparse.Namespace, argv: list[str]) -> int:
    from dialog_rl.logs.schema import format_schema, schema_json

    print(schema_json() if args.json else format_schema(), end="" if not args.json else "\n")
    return 0
