"""``dialog-rl ope``: a policy's value from another policy's logs (the work: ``ope.command``)."""

from __future__ import annotations

import argparse

from dialog_rl.cli.errors import UsageError
from dialog_rl.cli.options import (
    BOOTSTRAP,
    GAMMA,
    JSON,
    LOGS,
    POLICY,
    SCENARIO,
    SEED,
    add_exploration,
    positive_int,
)

EXAMPLE = (
    "example: dialog-rl simulate --scenario scenarios/restaurant.yaml --policy rule --epsilon 0.3 "
    "--episodes 10000 --out runs/logged\n"
    "         dialog-rl ope --logs runs/logged --policy rule --truth"
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ope",
        help="off-policy evaluation: a policy's value from another policy's logs",
        description="Estimate the expected return per conversation (per customer lifetime, on "
        "lifetime logs) of a target policy from conversations logged under another policy (they "
        "must carry propensities), with 95% "
        "bootstrap intervals, importance-weight diagnostics and support warnings; --truth also "
        "plays the target in the simulator and reports each estimator's error.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    LOGS.add(p, required=True)
    POLICY.add(
        p,
        required=True,
        detail="the target; or `logged`, the target probabilities of logs imported in the "
        "features shape",
    )
    SCENARIO.add(p, shown_default="the logs' own")
    p.add_argument("--truth", action="store_true", help="also play the target online")
    p.add_argument(
        "--episodes-truth",
        type=positive_int,
        default=5000,
        help="conversations (lifetime logs: customers) for --truth",
    )
    GAMMA.add(p, default=1.0, detail="lifetime logs are already discounted by day")
    p.add_argument(
        "--max-visits",
        type=positive_int,
        default=None,
        help="lifetime logs: evaluate each customer's first N visits only (truth likewise)",
    )
    BOOTSTRAP.add(p, default=1000)
    p.add_argument(
        "--max-decisions",
        type=positive_int,
        default=None,
        help="refuse logs of more decisions than this (default 500,000: about 1.7 GB of memory)",
    )
    SEED.add(p, default=0, detail="bootstrap, FQE and the --truth run")
    p.add_argument("--no-fqe", action="store_true", help="skip FQE and the model-based estimators")
    JSON.add(p)
    add_exploration(p, explore=False)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from dialog_rl.ope.command import OPEArgs, run_ope
    from dialog_rl.ope.errors import OPEInputError

    ope_args = OPEArgs(
        logs=args.logs,
        policy=args.policy,
        scenario=args.scenario,
        truth=args.truth,
        episodes_truth=args.episodes_truth,
        gamma=args.gamma,
        bootstrap=args.bootstrap,
        seed=args.seed,
        explore=args.explore,
        fqe=not args.no_fqe,
        json_out=args.json,
        max_visits=args.max_visits,
        max_decisions=args.max_decisions,
    )
    try:
        text = run_ope(ope_args)
    except OPEInputError as err:
        raise UsageError(str(err)) from None
    print(text)
    return 0
