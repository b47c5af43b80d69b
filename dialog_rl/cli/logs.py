"""``dialog-rl logs schema|import|export``: bring your own logged decisions, take them elsewhere.

The work is ``dialog_rl.logs``'s (``schema``, ``importer``, ``export``).
"""

from __future__ import annotations

import argparse
import sys

from dialog_rl.cli.errors import UsageError
from dialog_rl.cli.options import FORCE, LOGS, NOISE, OUT, POLICY, SCENARIO, add_exploration

EXAMPLE = (
    "examples:\n"
    "  dialog-rl logs schema\n"
    "  dialog-rl logs import my_logs.csv --scenario restaurant --out runs/mine\n"
    "  dialog-rl ope --logs runs/mine --policy rule\n"
    "  dialog-rl logs export --logs runs/mine --policy rule --format obp --out mine_obp.npz"
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """``logs`` and its subcommands ``schema``, ``import`` and ``export``."""
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
    # not the shared --json (write the results to a file too): print the schema as JSON
    s.add_argument("--json", action="store_true", help="as JSON")
    s.set_defaults(handler=run_schema)

    i = logs.add_parser(
        "import",
        help="check a CSV/Parquet/JSONL of logged decisions and write it as a dialog-rl log",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    i.add_argument("file", help="CSV, Parquet or JSONL file following `dialog-rl logs schema`")
    SCENARIO.add(i, detail="acts shape: the one to replay the acts on")
    NOISE.add(
        i,
        detail="acts shape: production's, recorded for `ope --truth`",
        shown_default="the scenario's",
    )
    OUT.add(i, required=True, detail="run directory")
    FORCE.add(i, detail="an earlier `logs import`")
    i.set_defaults(handler=run_import)

    e = logs.add_parser(
        "export",
        help="write a dialog-rl log as Open Bandit Pipeline's bandit_feedback or SCOPE-RL's "
        "logged_dataset (.npz)",
    )
    LOGS.add(e, required=True)
    e.add_argument("--format", required=True, choices=("obp", "scope-rl"), help="library")
    POLICY.add(
        e,
        required=True,
        detail="the target whose action distribution goes with it; or `logged` (features-shaped "
        "imports)",
    )
    SCENARIO.add(e, shown_default="the logs' own")
    OUT.add(
        e,
        required=True,
        detail=".npz file; an existing file is replaced only if it is a dialog-rl export",
    )
    add_exploration(e, explore=False)
    e.set_defaults(handler=run_export)

    def no_subcommand(args: argparse.Namespace, argv: list[str]) -> int:
        p.print_help(sys.stderr)
        return 2

    p.set_defaults(handler=no_subcommand)


def run_schema(args: argparse.Namespace, argv: list[str]) -> int:
    from dialog_rl.logs.schema import format_schema, schema_json

    print(schema_json() if args.json else format_schema(), end="" if not args.json else "\n")
    return 0


def run_import(args: argparse.Namespace, argv: list[str]) -> int:
    from dialog_rl.logs.importer import LogImportError, import_logs

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
        raise UsageError(str(err)) from None
    print(
        f"{args.file}: {r.decisions} decisions in {r.conversations} conversations "
        f"({r.shape} shape) -> {r.out}"
    )
    target = "rule" if r.shape == "acts" else "logged"
    print(f"  evaluate: dialog-rl ope --logs {r.out} --policy {target}")
    return 0


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
        raise UsageError(str(err)) from None
    if args.format == "obp":
        data = obp_feedback(logged, dist)
        how = "bandit_feedback = dialog_rl.logs.export.load_export(path); one round per decision"
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
