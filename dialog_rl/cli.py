"""The ``dialog-rl`` command. Subcommands import their machinery lazily so ``--help`` is instant."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path


class UsageError(Exception):
    """A mistake in how the command was called: reported in one line, exit code 2."""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    from dialog_rl.policies.base import PolicyError
    from dialog_rl.scenario import ScenarioError

    try:
        return int(args.handler(args, argv) or 0)
    except (UsageError, ScenarioError, PolicyError) as err:
        print(f"dialog-rl: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dialog-rl: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`dialog-rl ... | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dialog-rl",
        description="Simulate, train and evaluate the decision policies of conversational agents.",
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = sub.add_parser("validate", help="check a scenario file and print what it contains")
    p.add_argument("scenario", help="path to a scenario YAML file")
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("simulate", help="run many conversations headless and log them")
    p.add_argument("--scenario", required=True, help="scenario YAML file")
    p.add_argument(
        "--policy", default="rule", help="random, rule, or a run directory (default: rule)"
    )
    p.add_argument("--episodes", type=_positive_int, default=1000, help="conversations to run")
    p.add_argument("--seed", type=int, default=0, help="the one seed that decides the run")
    p.add_argument("--noise", type=_probability, default=None, help="semantic error rate (0-1)")
    p.add_argument(
        "--channel", choices=("act", "text"), default="act", help="act-level or text-level"
    )
    p.add_argument(
        "--epsilon", type=_probability, default=0.0, help="ε-soft exploration of the rule policy"
    )
    p.add_argument("--greedy", action="store_true", help="act greedily (no exploration)")
    p.add_argument("--max-turns", type=_positive_int, default=None, help="override the turn limit")
    p.add_argument("--out", default=None, help="run directory for the Parquet log and summary")
    p.add_argument("--force", action="store_true", help="replace an existing --out directory")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--lifetime",
        action="store_true",
        help="episodes are customer lifetimes of returning visits (scenario needs `lifetime`)",
    )
    p.set_defaults(handler=cmd_simulate)

    p = sub.add_parser(
        "tui", help="step through conversations in the terminal: see why, override, teach"
    )
    p.add_argument("--scenario", default=None, help="scenario YAML file (or --open a session)")
    p.add_argument(
        "--policy", default=None, help="random, rule, or a run directory (default: rule)"
    )
    p.add_argument("--seed", type=int, default=None, help="seed of the customers (default: 0)")
    p.add_argument("--noise", type=_probability, default=None, help="semantic error rate (0-1)")
    p.add_argument(
        "--explore", action="store_true", help="sample from the policy instead of acting greedily"
    )
    p.add_argument("--customer", action="store_true", help="start with you playing the customer")
    p.add_argument("--out", default="tui-session", help="where s saves (default: tui-session)")
    p.add_argument("--open", default=None, help="reopen a saved session.json")
    p.set_defaults(handler=cmd_tui)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number between 0 and 1, got {text!r}"
        ) from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {value}")
    return value


# -- validate ----------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace, argv: list[str]) -> int:
    from dialog_rl.env.featurizer import observation_spec
    from dialog_rl.scenario import compile_scenario, load_scenario

    loaded = load_scenario(args.scenario)
    d = compile_scenario(loaded)
    sc = loaded.scenario
    print(f"{args.scenario}: OK — scenario {d.name!r} (sha256 {d.content_hash[:12]})")
    if sc.description:
        print(f"  {sc.description}")
    print(f"  informable slots ({d.n_inf}):")
    for s, name in enumerate(d.inf_names):
        values = d.inf_values[s]
        shown = ", ".join(values[:6]) + (", ..." if len(values) > 6 else "")
        print(f"    {name:<14} {len(values):>4} values: {shown}")
    print(f"  requestable slots ({d.n_req}): {', '.join(d.req_names) or '-'}")
    print(f"  knowledge base: {d.n_entities} entities")
    print(f"  tasks: {', '.join(d.task_names) or '-'}")
    print(f"  actions ({d.n_actions}): {', '.join(d.act_names)}")
    mix = ", ".join(f"{p.name} {w:.0%}" for p, w in zip(d.personas, d.persona_weights))
    print(f"  personas: {mix}")
    print(
        f"  noise: error rate {d.error_rate:.0%}; reward: success {d.r_success:+g}, "
        f"failure {d.r_failure:+g}, turn {d.r_turn:+g}, handover {d.r_handover:+g}; "
        f"turn limit {d.max_turns}"
    )
    print(f"  observation: {observation_spec(d).size} features")
    return 0


# -- simulate ----------------------------------------------------------------------------------


def cmd_simulate(args: argparse.Namespace, argv: list[str]) -> int:
    from tqdm import tqdm

    import dialog_rl
    from dialog_rl.env import DialogueEnv, LifetimeEnv
    from dialog_rl.policies import make_policy
    from dialog_rl.rollout.logs import EpisodeLogWriter
    from dialog_rl.rollout.metrics import format_metric, summarize, summarize_lifetimes
    from dialog_rl.rollout.runner import run_episodes
    from dialog_rl.scenario import load_domain

    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not args.force:
        raise UsageError(f"--out {out} already exists; choose another name or pass --force")
    domain = load_domain(args.scenario)
    if args.lifetime and domain.lifetime is None:
        raise UsageError(f"{args.scenario}: --lifetime needs a `lifetime` section in the scenario")
    env_class = LifetimeEnv if args.lifetime else DialogueEnv
    env = env_class(
        domain,
        noise=args.noise,
        channel=args.channel,
        text=out is not None,
        max_turns=args.max_turns,
    )
    policy = make_policy(args.policy, domain, env.spec_obs, epsilon=args.epsilon)

    tmp = writer = None
    if out is not None:
        tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        meta = {
            "dialog_rl.scenario_hash": domain.content_hash,
            "dialog_rl.policy": args.policy,
            "dialog_rl.seed": str(args.seed),
            "dialog_rl.noise": str(env.noise),
            "dialog_rl.observation_spec": json.dumps(env.spec_obs.to_dict()),
        }
        writer = EpisodeLogWriter(tmp / "log", env.spec_obs.size, domain.n_actions, meta)

    outcomes = []
    turns = 0
    start = time.perf_counter()
    episodes = run_episodes(
        env,
        policy,
        range(args.episodes),
        args.seed,
        explore=not args.greedy,
        record=writer is not None,
    )
    bar = tqdm(
        episodes,
        total=args.episodes,
        unit="ep",
        disable=args.no_progress or None,
        file=sys.stderr,
        smoothing=0.1,
    )
    try:
        for rec in bar:
            outcomes.append(rec.outcome)
            turns += rec.outcome["turns"]
            if writer is not None:
                writer.write(rec)
        if writer is not None:
            writer.close()
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    elapsed = time.perf_counter() - start
    metrics = summarize_lifetimes(outcomes) if args.lifetime else summarize(outcomes)

    if out is not None:
        summary = {
            "scenario": domain.name,
            "scenario_path": args.scenario,
            "scenario_hash": domain.content_hash,
            "dialog_rl_version": dialog_rl.__version__,
            "command": ["dialog-rl", *argv],
            "seed": args.seed,
            "policy": {"name": args.policy, **policy.config()},
            "noise": env.noise,
            "channel": args.channel,
            "explore": not args.greedy,
            "metrics": metrics,
        }
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)

    print(
        f"scenario {domain.name}, policy {args.policy}, noise {env.noise:.2f}, "
        f"{args.episodes} episodes, seed {args.seed}"
    )
    if args.lifetime:
        print(f"  lifetimes: {len(outcomes)} customers")
        print(
            f"  retention   {format_metric(metrics['retention'], pct=True)} came back at least once"
        )
        print(f"  visits      {format_metric(metrics['visits'])} per customer")
        print(f"  value       {format_metric(metrics['lifetime_value'])} lifetime value")
        print(
            f"  success     {format_metric(metrics['conversation_success'], pct=True)} of conversations"
        )
        print(f"  speed       {turns / elapsed:,.0f} turns/s ({turns} turns in {elapsed:.1f} s)")
        if out is not None:
            print(f"  wrote {out}/log (Parquet, {turns} rows) and {out}/summary.json")
        return 0
    print(f"  success     {format_metric(metrics['success'], pct=True)}")
    print(f"  reward      {format_metric(metrics['reward'])}")
    print(f"  turns       {format_metric(metrics['turns'])}")
    print(f"  hang-ups    {format_metric(metrics['hangup'], pct=True)}")
    print(f"  hand-overs  {format_metric(metrics['handover'], pct=True)}")
    print(f"  truncated   {format_metric(metrics['truncated'], pct=True)}")
    print(f"  speed       {turns / elapsed:,.0f} turns/s ({turns} turns in {elapsed:.1f} s)")
    if out is not None:
        print(f"  wrote {out}/log (Parquet, {turns} rows) and {out}/summary.json")
    return 0


# -- tui ---------------------------------------------------------------------------------------


def cmd_tui(args: argparse.Namespace, argv: list[str]) -> int:
    from dialog_rl.tui.launch import build_session

    session = build_session(
        scenario=args.scenario,
        policy=args.policy,
        seed=args.seed,
        noise=args.noise,
        explore=args.explore,
        customer=args.customer,
        open_path=args.open,
        error=UsageError,
    )
    from dialog_rl.tui.app import DialogApp  # textual only once the session is known to be good

    DialogApp(session, args.out).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
