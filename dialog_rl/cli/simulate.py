"""``dialog-rl simulate``: run many conversations headless, log them, print the metrics.

The run directory (lock, ``--force``, ``--resume``, what a failure leaves) is
``dialog_rl.rollout.rundir``'s; this module parses, dispatches and prints.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from dialog_rl.cli.errors import UsageError
from dialog_rl.cli.options import (
    ADDRESS,
    BACKEND,
    CHANNEL,
    EPISODES,
    FORCE,
    KB_ROOT,
    LIFETIME,
    MAX_TURNS,
    NO_PROGRESS,
    NOISE,
    OUT,
    POLICY,
    RESUME,
    SCENARIO,
    SEED,
    WORKERS,
    add_exploration,
    positive_int,
    probability,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="run many conversations headless and log them")
    SCENARIO.add(p, required=True)
    POLICY.add(p, default="rule")
    EPISODES.add(p, default=1000, detail="customers with --lifetime")
    SEED.add(p, default=0)
    NOISE.add(p, shown_default="the scenario's")
    CHANNEL.add(p)
    p.add_argument(
        "--epsilon", type=probability, default=0.0, help="ε-soft exploration of the rule policy"
    )
    MAX_TURNS.add(p, shown_default="the scenario's")
    OUT.add(p, detail="run directory for the Parquet log and summary")
    p.add_argument(
        "--text",
        action="store_true",
        help="log the utterances too (user_text, system_text, reply_text; slower): without it "
        "those columns are null on the act channel",
    )
    FORCE.add(p, detail="a simulate run")
    RESUME.add(p, detail="plays only what is missing")
    p.add_argument(
        "--part-episodes",
        type=positive_int,
        default=None,
        help="episodes per Parquet part file, the unit written at once (default 500; "
        "--resume keeps the run's)",
    )
    NO_PROGRESS.add(p)
    LIFETIME.add(p, detail="each episode is one customer's visits")
    WORKERS.add(p, shown_default="1 local; on ray, the cluster's CPUs")
    p.add_argument(
        "--batch",
        type=positive_int,
        default=None,
        help="conversations each worker steps together (default 1024, text channel 32); results "
        "are identical for any batch size (--lifetime plays one at a time)",
    )
    BACKEND.add(p)
    ADDRESS.add(p)
    KB_ROOT.add(p)
    add_exploration(p, explore=True)
    p.set_defaults(handler=run, prepare=prepare)


def prepare(args: argparse.Namespace) -> None:
    """Start the fork server of a local pool now: its imports overlap this process's own."""
    if args.backend == "local" and (args.workers or 1) > 1:
        from dialog_rl.rollout.pool import start_fork_server

        start_fork_server()


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from dialog_rl.domain import load_domain

    _check_arguments(args)
    domain = load_domain(args.scenario, args.kb_root)
    if args.lifetime and domain.lifetime is None:
        raise UsageError(f"{args.scenario}: --lifetime needs a `lifetime` section in the scenario")
    spec, noise, policy = _policy(args, domain)
    run = _open_run(args, argv, domain, noise, policy) if args.out else None
    if run is not None and run.already_complete:
        run.close()
        print(f"{run.path}: the run is already complete; nothing to do")
        return 0
    if run is not None and not run.fresh:
        print(
            f"dialog-rl: resuming {run.path}: {run.episodes_done} of {args.episodes} episodes "
            "were already logged",
            file=sys.stderr,
        )
    job = _job(args, domain, spec, noise, run)
    outcomes, turns, elapsed = _play(args, job, run)
    _report(args, domain, noise, run, outcomes, turns, elapsed)
    return 0


def _check_arguments(args: argparse.Namespace) -> None:
    if args.resume and not args.out:
        raise UsageError("--resume needs --out: the run directory to finish")
    if args.resume and args.force:
        raise UsageError("--resume continues --out and --force replaces it: pass one of them")
    if args.text and not args.out:
        raise UsageError("--text logs the utterances: it needs --out")


def _policy(args: argparse.Namespace, domain):
    """The observation spec, the noise played, and the policy (checked before anything runs)."""
    from dialog_rl.env.featurizer import observation_spec
    from dialog_rl.policies import make_policy

    if args.lifetime:
        from dialog_rl.env import LifetimeEnv

        env = LifetimeEnv(domain, noise=args.noise, max_turns=args.max_turns)
        spec, noise = env.spec_obs, env.noise
    else:  # the workers build the engine; this process needs only what it looks like
        spec = observation_spec(domain)
        noise = domain.error_rate if args.noise is None else args.noise
    policy = make_policy(args.policy, domain, spec, epsilon=args.epsilon)
    if args.address is not None and args.backend != "ray":
        raise UsageError("--address needs --backend ray")
    return spec, noise, policy


def _open_run(args: argparse.Namespace, argv: list[str], domain, noise: float, policy):
    """``--out``, opened under its lock: written in place, part by part, so a killed run keeps
    what it played."""
    from dialog_rl.rollout.rundir import SimulationRunError, open_simulation_run
    from dialog_rl.rollout.runlock import RunLockedError

    try:
        return open_simulation_run(
            args.out,
            domain=domain,
            scenario_path=args.scenario,
            command=["dialog-rl", *argv],
            policy_name=args.policy,
            policy_config=policy.config(),
            seed=args.seed,
            noise=noise,
            channel=args.channel,
            text=args.text,
            epsilon=args.epsilon,
            explore=args.explore,
            max_turns=args.max_turns,
            lifetime=args.lifetime,
            episodes=args.episodes,
            part_episodes=args.part_episodes,
            force=args.force,
            resume=args.resume,
        )
    except (RunLockedError, SimulationRunError) as err:
        raise UsageError(str(err)) from None


def _job(args: argparse.Namespace, domain, spec, noise: float, run):
    import json

    from dialog_rl.rollout.backends import TEXT_VECTOR_ENVS, VECTOR_ENVS, RolloutJob
    from dialog_rl.rollout.logs import PART_EPISODES

    meta: dict[str, str] = {}
    if run is not None:
        meta = {
            "dialog_rl.scenario_hash": domain.content_hash,
            "dialog_rl.policy": args.policy,
            "dialog_rl.seed": str(args.seed),
            "dialog_rl.noise": str(noise),
            "dialog_rl.observation_spec": json.dumps(spec.to_dict()),
        }
    return RolloutJob(
        domain,
        policy=args.policy,
        episodes=args.episodes,
        seed=args.seed,
        noise=args.noise,
        channel=args.channel,
        max_turns=args.max_turns,
        epsilon=args.epsilon,
        explore=args.explore,
        lifetime=args.lifetime,
        log_dir=str(run.log_dir) if run is not None else None,
        log_metadata=meta,
        text=args.text,
        part_episodes=run.part_episodes if run is not None else PART_EPISODES,
        skip_parts=run.done_parts if run is not None else frozenset(),
        vector_envs=args.batch or (TEXT_VECTOR_ENVS if args.channel == "text" else VECTOR_ENVS),
    )


def _play(args: argparse.Namespace, job, run) -> tuple[Sequence[dict], int, float]:
    """Play the job on its backend: the outcomes (every part's, with --out), turns, seconds."""
    import contextlib

    from tqdm import tqdm

    from dialog_rl.rollout.backends import BackendError, run_rollouts
    from dialog_rl.rollout.metrics import concat_outcomes

    pieces: list[Sequence[dict]] = []
    turns = 0
    start = time.perf_counter()
    bar = tqdm(
        total=args.episodes,
        initial=run.episodes_done if run is not None else 0,
        unit="ep",
        disable=args.no_progress or None,
        file=sys.stderr,
        smoothing=0.1,
    )
    playing = run.playing(cannot_start=(BackendError,)) if run else contextlib.nullcontext()
    try:
        with playing:
            # Chunks come back in episode order whatever the backend, so outcomes (and the
            # metrics) are the same list for any number of workers.
            chunks = run_rollouts(
                job, backend=args.backend, workers=args.workers, address=args.address
            )
            for chunk in chunks:
                if run is not None:
                    run.add(chunk.start, chunk.outcomes)  # records each part once it is on disk
                else:
                    pieces.append(chunk.outcomes)
                turns += chunk.turns
                bar.update(len(chunk.outcomes))
            bar.close()
    except BackendError as err:
        raise UsageError(str(err)) from None
    elapsed = time.perf_counter() - start
    if run is not None:
        return run.outcomes(), turns, elapsed  # with the parts an interrupted run had played
    return concat_outcomes(pieces), turns, elapsed


def _report(args, domain, noise: float, run, outcomes, turns: int, elapsed: float) -> None:
    from dialog_rl.rollout.metrics import (
        OutcomeColumns,
        format_metric,
        summarize,
        summarize_lifetimes,
    )

    metrics = summarize_lifetimes(outcomes) if args.lifetime else summarize(outcomes)
    if isinstance(outcomes, OutcomeColumns):
        rows = int(outcomes.columns["turns"].sum())
    else:
        rows = sum(int(o["turns"]) for o in outcomes)
    if run is not None:
        run.complete(metrics)
    print(
        f"scenario {domain.name}, policy {args.policy}, noise {noise:.2f}, "
        f"{args.episodes} episodes, seed {args.seed}"
    )
    if args.lifetime:
        _print_lifetimes(metrics, len(outcomes), format_metric)
    else:
        print(f"  success     {format_metric(metrics['success'], pct=True)}")
        print(f"  reward      {format_metric(metrics['reward'])}")
        print(f"  turns       {format_metric(metrics['turns'])}")
        print(f"  hang-ups    {format_metric(metrics['hangup'], pct=True)}")
        print(f"  hand-overs  {format_metric(metrics['handover'], pct=True)}")
        print(f"  truncated   {format_metric(metrics['truncated'], pct=True)}")
        if (domain.domains.n > 1 or domain.booking.on) and "convlab" in metrics:
            c = metrics["convlab"]
            print("  ConvLab-2's evaluation (summary.json `convlab`; README: Multi-domain):")
            for key, label in (
                ("inform_precision", "inform P"),
                ("inform_recall", "inform R"),
                ("inform_f1", "inform F1"),
                ("match_rate", "match"),
                ("book_rate", "book"),
                ("task_success", "success"),
            ):
                if key in c:
                    print(f"    {label:<10}{format_metric(c[key], pct=True)}")
    print(f"  speed       {turns / elapsed:,.0f} turns/s ({turns} turns in {elapsed:.1f} s)")
    if run is not None:
        print(f"  wrote {run.path}/log (Parquet, {rows} rows) and {run.path}/summary.json")


def _print_lifetimes(metrics: dict, customers: int, format_metric) -> None:
    print(f"  lifetimes: {customers} customers")
    print(f"  retention   {format_metric(metrics['retention'], pct=True)} came back at least once")
    print(f"  visits      {format_metric(metrics['visits'])} per customer")
    print(f"  value       {format_metric(metrics['lifetime_value'])} lifetime value")
    print(
        f"  success     {format_metric(metrics['conversation_success'], pct=True)} of conversations"
    )
    if metrics["by_persona"]:
        print("  by persona")
    for name, group in metrics["by_persona"].items():
        print(
            f"    {name:<10} {group['customers']:>6} customers, retention "
            f"{format_metric(group['retention'], pct=True)}, value "
            f"{format_metric(group['lifetime_value'])}"
        )
