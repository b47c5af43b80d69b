"""``dialog-rl train``: train a learning policy online against the simulator.

The run directory (lock, ``--force``, ``--resume``) is ``dialog_rl.train.rundir``'s; this module
parses, dispatches and prints.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dialog_rl.cli.errors import UsageError
from dialog_rl.cli.options import (
    ADDRESS,
    BACKEND,
    CHANNEL,
    FORCE,
    GAMMA,
    KB_ROOT,
    LIFETIME,
    MAX_TURNS,
    NO_PROGRESS,
    NOISE,
    OUT,
    RESUME,
    SCENARIO,
    SEED,
    WORKERS,
    positive_int,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a learning policy online against the simulator")
    SCENARIO.add(p, required=True)
    p.add_argument(
        "--algo",
        required=True,
        choices=("dqn", "ppo", "linucb", "thompson", "egreedy"),
        help="learning algorithm",
    )
    p.add_argument(
        "--dialogues", type=positive_int, default=4000, help="training conversations (4000)"
    )
    SEED.add(p, default=0)
    NOISE.add(p, shown_default="the scenario's")
    OUT.add(p, required=True, detail="run directory (curve, checkpoints, final policy)")
    RESUME.add(p, detail="continues from its last checkpoint; only --dialogues may change")
    FORCE.add(p, detail="a train run")
    p.add_argument(
        "--demos",
        default=None,
        help="Parquet log (file or directory, e.g. from `simulate --out`) to behaviour-clone first",
    )
    p.add_argument(
        "--override-weight",
        type=float,
        default=5.0,
        help="weight of demonstration rows overridden in the TUI (default 5)",
    )
    p.add_argument(
        "--eval-every", type=positive_int, default=500, help="dialogues between evaluations"
    )
    p.add_argument(
        "--eval-episodes", type=positive_int, default=200, help="held-out conversations each"
    )
    p.add_argument(
        "--checkpoint-every", type=positive_int, default=500, help="dialogues between checkpoints"
    )
    p.add_argument(
        "--hp",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="learner hyperparameter (repeatable), e.g. --hp alpha=0.5 --hp credit=turn",
    )
    CHANNEL.add(p)
    MAX_TURNS.add(p, shown_default="the scenario's")
    NO_PROGRESS.add(p)
    p.add_argument(
        "--rollout-batch",
        type=positive_int,
        default=None,
        help="episodes played at once (a vector env) with a snapshot of the learner before it "
        "learns from them (default: 16 for dqn, else 1)",
    )
    WORKERS.add(p, default=1, detail="they play each round (needs --rollout-batch > 1)")
    BACKEND.add(p)
    ADDRESS.add(p)
    LIFETIME.add(p, detail="learn lifetime value; --dialogues then counts customers")
    GAMMA.add(p, shown_default="the learner's; 0.995 with --lifetime")
    p.add_argument(
        "--tensorboard",
        default=None,
        metavar="DIR",
        help="also write the learning curve as TensorBoard events to DIR "
        "(`tensorboard --logdir DIR`)",
    )
    KB_ROOT.add(p)
    p.set_defaults(handler=run)


def hyperparameters(items: list[str]) -> dict:
    """``KEY=VALUE`` pairs; values are read as JSON (numbers, true, lists) or else as text."""
    import json

    out: dict = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--hp {item!r}: expected KEY=VALUE, e.g. --hp alpha=0.5")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        out[key.strip()] = value
    return out


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from dialog_rl.domain import load_domain
    from dialog_rl.rollout.runlock import RunLockedError
    from dialog_rl.train import DemoError, TrainError, train
    from dialog_rl.train.loop import check_inputs
    from dialog_rl.train.rundir import check_replaceable, locked_run_directory

    if args.resume and args.force:
        raise UsageError("--resume continues --out and --force replaces it: pass one of them")
    if args.tensorboard and Path(args.tensorboard).exists() and not Path(args.tensorboard).is_dir():
        raise UsageError(f"--tensorboard {args.tensorboard}: exists and is not a directory")
    out = Path(args.out)
    try:
        check_replaceable(out, args.force)  # before anything: only a run train made
        domain = load_domain(args.scenario, args.kb_root)
        config = _config(args)
        if args.address is not None and args.backend != "ray":
            raise UsageError("--address needs --backend ray")
        with locked_run_directory(
            out, force=args.force, before_clearing=lambda: check_inputs(domain, config)
        ):
            result = train(
                domain,
                config,
                out,
                callbacks=_callbacks(args),
                resume=args.resume,
                progress=not args.no_progress,
                run_info={"scenario_path": args.scenario, "command": ["dialog-rl", *argv]},
            )
    except (TrainError, DemoError, RunLockedError) as err:
        raise UsageError(str(err)) from None
    _report(args, domain, out, result)
    return 0


def _config(args: argparse.Namespace):
    from dialog_rl.train import TrainConfig

    return TrainConfig(
        algo=args.algo,
        dialogues=args.dialogues,
        seed=args.seed,
        noise=args.noise,
        hyperparameters=hyperparameters(args.hp),
        eval_every=args.eval_every,
        eval_episodes=args.eval_episodes,
        checkpoint_every=args.checkpoint_every,
        demos=args.demos,
        override_weight=args.override_weight,
        channel=args.channel,
        max_turns=args.max_turns,
        rollout_batch=args.rollout_batch,
        workers=args.workers,
        backend=args.backend,
        address=args.address,
        lifetime=args.lifetime,
        gamma=args.gamma,
    )


def _callbacks(args: argparse.Namespace) -> list:
    if not args.tensorboard:
        return []
    from dialog_rl.train.tensorboard import TensorBoardLog

    return [TensorBoardLog(args.tensorboard)]


def _report(args: argparse.Namespace, domain, out: Path, result) -> None:
    row = result.curve[-1]
    noise = args.noise if args.noise is not None else domain.error_rate
    trained = f"{result.episodes} training dialogues"
    if args.lifetime:
        trained = f"{result.episodes} training customers ({result.conversations} conversations)"
    print(
        f"scenario {domain.name}, {args.algo}, noise {noise:.2f}, seed {args.seed}: {trained}"
        + (" (stopped early)" if result.stopped else "")
    )
    if args.lifetime:
        print(
            f"  greedy on {args.eval_episodes} held-out customers: lifetime value "
            f"{row['life/value']:.2f}, retention {100 * row['life/retention']:.1f}%, visits "
            f"{row['life/visits']:.2f}, success {100 * row['dialog/success']:.1f}% of conversations"
        )
    else:
        print(
            f"  greedy on {args.eval_episodes} held-out conversations: success "
            f"{100 * row['dialog/success']:.1f}%, reward {row['dialog/reward']:.2f}, "
            f"turns {row['dialog/turns']:.2f}"
        )
    print(f"  CPU time    {result.cpu_seconds:.1f} s")
    print(f"  wrote {out}/final (policy), {out}/curve.csv, {out}/curve.png")
    if args.tensorboard:
        print(
            f"  wrote {args.tensorboard} (TensorBoard events: tensorboard --logdir {args.tensorboard})"
        )
    life = " --lifetime" if args.lifetime else ""
    # --greedy: the figure above is greedy; without it a PPO policy samples and scores lower
    print(
        f"  run it:     dialog-rl simulate --scenario {args.scenario} --policy {out}{life} --greedy"
    )
