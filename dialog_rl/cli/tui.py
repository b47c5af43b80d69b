"""``dialog-rl tui``: step through conversations in the terminal (the only path to textual)."""

from __future__ import annotations

import argparse

from dialog_rl.cli.errors import UsageError
from dialog_rl.cli.options import (
    KB_ROOT,
    LIFETIME,
    NOISE,
    OUT,
    POLICY,
    SCENARIO,
    SEED,
    add_exploration,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tui", help="step through conversations in the terminal: see why, override, teach"
    )
    SCENARIO.add(p, detail="or --open a session")
    POLICY.add(p, shown_default="rule")
    SEED.add(p, shown_default="0")
    NOISE.add(p, shown_default="the scenario's")
    p.add_argument("--customer", action="store_true", help="start with you playing the customer")
    LIFETIME.add(p, detail="step through a returning customer's successive visits")
    OUT.add(p, default="tui-session", detail="the folder the s key saves into")
    p.add_argument("--open", default=None, help="reopen a saved session.json")
    KB_ROOT.add(p)
    add_exploration(p, explore=False)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from dialog_rl.tui.launch import build_session

    session = build_session(
        scenario=args.scenario,
        policy=args.policy,
        seed=args.seed,
        noise=args.noise,
        explore=args.explore,
        customer=args.customer,
        lifetime=args.lifetime,
        open_path=args.open,
        kb_roots=args.kb_root,
        error=UsageError,
    )
    from dialog_rl.tui.app import DialogApp  # textual only once the session is known to be good

    DialogApp(session, args.out).run()
    return 0
