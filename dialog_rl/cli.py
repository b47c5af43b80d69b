"""The ``dialog-rl`` command. Subcommands import their machinery lazily so ``--help`` is instant."""

from __future__ import annotations

import argparse
import errno
import json
import os
import shutil
import sys
import time
from pathlib import Path

from dialog_rl.arg_types import positive_int as _positive_int
from dialog_rl.arg_types import probability as _probability

#: errors of a disk that cannot take more (full, over quota, file too big): one line, exit 1
_DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class UsageError(Exception):
    """A mistake in how the command was called: reported in one line, exit code 2."""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
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

    p = sub.add_parser(
        "validate", help="check a scenario file and print what it contains", add_help=False
    )
    p.add_argument("scenario", help="a scenario YAML file, or a shipped one by name (restaurant)")
    p.add_argument(
        "-h", "--help", action=_HelpWithFormat, help="show this help and the scenario file format"
    )
    _add_kb_root(p)
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("simulate", help="run many conversations headless and log them")
    p.add_argument(
        "--scenario",
        required=True,
        help="scenario YAML file, or a shipped one by name (restaurant)",
    )
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
    p.add_argument(
        "--text",
        action="store_true",
        help="log the utterances too (user_text, system_text, reply_text; slower): without it "
        "those columns are null on the act channel",
    )
    p.add_argument("--force", action="store_true", help="replace an existing --out directory")
    p.add_argument(
        "--resume",
        action="store_true",
        help="finish the interrupted run in --out (same arguments): plays only what is missing",
    )
    p.add_argument(
        "--part-episodes",
        type=_positive_int,
        default=None,
        help="episodes per Parquet part file, the unit written at once (default 500; "
        "--resume keeps the run's)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--lifetime",
        action="store_true",
        help="episodes are customer lifetimes of returning visits (scenario needs `lifetime`)",
    )
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="worker processes (local) or Ray actors (ray; default: the cluster's CPUs); "
        "results are identical for any number",
    )
    p.add_argument(
        "--batch",
        type=_positive_int,
        default=None,
        help="conversations each worker steps together (default 1024, text channel 32); results "
        "are identical for any batch size (--lifetime plays one at a time)",
    )
    p.add_argument(
        "--backend", choices=("local", "ray"), default="local", help="where episodes run"
    )
    p.add_argument("--address", default=None, help="Ray cluster address (with --backend ray)")
    _add_kb_root(p)
    p.set_defaults(handler=cmd_simulate, prepare=_prepare_simulate)

    p = sub.add_parser("train", help="train a learning policy online against the simulator")
    p.add_argument(
        "--scenario",
        required=True,
        help="scenario YAML file, or a shipped one by name (restaurant)",
    )
    p.add_argument(
        "--algo",
        required=True,
        choices=("dqn", "ppo", "linucb", "thompson", "egreedy"),
        help="learning algorithm",
    )
    p.add_argument(
        "--dialogues", type=_positive_int, default=4000, help="training conversations (4000)"
    )
    p.add_argument("--seed", type=int, default=0, help="the one seed that decides the run")
    p.add_argument("--noise", type=_probability, default=None, help="semantic error rate (0-1)")
    p.add_argument("--out", required=True, help="run directory (curve, checkpoints, final policy)")
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its last checkpoint"
    )
    p.add_argument("--force", action="store_true", help="replace an existing --out directory")
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
        "--eval-every", type=_positive_int, default=500, help="dialogues between evaluations"
    )
    p.add_argument(
        "--eval-episodes", type=_positive_int, default=200, help="held-out conversations each"
    )
    p.add_argument(
        "--checkpoint-every", type=_positive_int, default=500, help="dialogues between checkpoints"
    )
    p.add_argument(
        "--hp",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="learner hyperparameter (repeatable), e.g. --hp alpha=0.5 --hp credit=turn",
    )
    p.add_argument(
        "--channel", choices=("act", "text"), default="act", help="act-level or text-level"
    )
    p.add_argument("--max-turns", type=_positive_int, default=None, help="override the turn limit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--rollout-batch",
        type=_positive_int,
        default=None,
        help="episodes played at once (a vector env) with a snapshot of the learner before it "
        "learns from them (default: 16 for dqn, else 1)",
    )
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="rollout workers playing each round (needs --rollout-batch > 1; results do not "
        "depend on it)",
    )
    p.add_argument(
        "--backend", choices=("local", "ray"), default="local", help="where rollout workers run"
    )
    p.add_argument("--address", default=None, help="Ray cluster address (with --backend ray)")
    p.add_argument(
        "--lifetime",
        action="store_true",
        help="train on customer lifetimes (lifetime value; scenario needs `lifetime`): "
        "--dialogues then counts customers",
    )
    p.add_argument(
        "--gamma",
        type=_probability,
        default=None,
        help="the learner's discount per turn (default: the learner's; 0.995 with --lifetime)",
    )
    p.add_argument(
        "--tensorboard",
        default=None,
        metavar="DIR",
        help="also write the learning curve as TensorBoard events to DIR "
        "(`tensorboard --logdir DIR`)",
    )
    _add_kb_root(p)
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser(
        "tui", help="step through conversations in the terminal: see why, override, teach"
    )
    p.add_argument(
        "--scenario", default=None, help="scenario YAML file or shipped name (or --open a session)"
    )
    p.add_argument(
        "--policy", default=None, help="random, rule, or a run directory (default: rule)"
    )
    p.add_argument("--seed", type=int, default=None, help="seed of the customers (default: 0)")
    p.add_argument("--noise", type=_probability, default=None, help="semantic error rate (0-1)")
    p.add_argument(
        "--explore", action="store_true", help="sample from the policy instead of acting greedily"
    )
    p.add_argument("--customer", action="store_true", help="start with you playing the customer")
    p.add_argument(
        "--lifetime",
        action="store_true",
        help="step through returning customers' successive visits (scenario needs `lifetime`)",
    )
    p.add_argument("--out", default="tui-session", help="where s saves (default: tui-session)")
    p.add_argument("--open", default=None, help="reopen a saved session.json")
    _add_kb_root(p)
    p.set_defaults(handler=cmd_tui)

    _add_compare_parser(sub)

    from dialog_rl.regress.command import add_regress_parser  # argparse only: --help stays fast

    add_regress_parser(sub, UsageError)
    from dialog_rl.ope.command import add_ope_parser  # argparse only: --help stays fast

    add_ope_parser(sub, UsageError)
    from dialog_rl.logs.command import add_logs_parser  # argparse only: --help stays fast

    add_logs_parser(sub, UsageError)
    return parser


def _add_kb_root(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--kb-root",
        action="append",
        default=[],
        metavar="DIR",
        help="also let the scenario read its kb.file from DIR (repeatable; by default only "
        "files in the scenario's own folder are read)",
    )


# -- validate ----------------------------------------------------------------------------------


class _HelpWithFormat(argparse.Action):
    """``validate --help``: the usual help, then every key of a scenario file (built only when
    asked for: it imports the schema)."""

    def __init__(self, option_strings, dest, help=None):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from dialog_rl.scenario.reference import format_reference

        parser.print_help()
        print()
        print(format_reference(), end="")
        parser.exit()


def cmd_validate(args: argparse.Namespace, argv: list[str]) -> int:
    from dialog_rl.domain import compile_scenario
    from dialog_rl.env.featurizer import observation_spec
    from dialog_rl.scenario import load_scenario

    loaded = load_scenario(args.scenario, args.kb_root)
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
    if sc.lifetime is not None:
        lt = sc.lifetime

        def weights(model) -> str:
            return ", ".join(f"{k} {v:+g}" for k, v in model.model_dump(exclude_none=True).items())

        print(
            f"  returning customers: up to {lt.max_visits} visits in {lt.horizon_days} days; "
            f"satisfaction {weights(lt.satisfaction)}"
        )
        for name, own in lt.persona_satisfaction.items():
            print(f"    {name}: {weights(own)}")
    print(f"  observation: {observation_spec(d).size} features")
    return 0


# -- simulate ----------------------------------------------------------------------------------


def _prepare_simulate(args: argparse.Namespace) -> None:
    """Start the fork server of a local pool now: its imports overlap this process's own."""
    if args.backend == "local" and (args.workers or 1) > 1:
        from dialog_rl.rollout.pool import start_fork_server

        start_fork_server()


def cmd_simulate(args: argparse.Namespace, argv: list[str]) -> int:
    from tqdm import tqdm

    from dialog_rl.domain import load_domain
    from dialog_rl.env.featurizer import observation_spec
    from dialog_rl.policies import make_policy
    from dialog_rl.rollout.backends import (
        TEXT_VECTOR_ENVS,
        VECTOR_ENVS,
        BackendError,
        RolloutJob,
        run_rollouts,
    )
    from dialog_rl.rollout.logs import PART_EPISODES
    from dialog_rl.rollout.metrics import format_metric, summarize, summarize_lifetimes

    out = Path(args.out) if args.out else None
    if args.resume and out is None:
        raise UsageError("--resume needs --out: the run directory to finish")
    if args.resume and args.force:
        raise UsageError("--resume continues --out and --force replaces it: pass one of them")
    if args.text and out is None:
        raise UsageError("--text logs the utterances: it needs --out")
    domain = load_domain(args.scenario, args.kb_root)
    if args.lifetime and domain.lifetime is None:
        raise UsageError(f"{args.scenario}: --lifetime needs a `lifetime` section in the scenario")
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

    run = None
    meta: dict[str, str] = {}
    if out is not None:
        # Written in place, part by part, under a lock: a killed run keeps what it played.
        run = _simulation_run(args, argv, out, domain, noise, policy)
        if run.already_complete:
            run.close()
            print(f"{out}: the run is already complete; nothing to do")
            return 0
        if not run.fresh:
            print(
                f"dialog-rl: resuming {out}: {run.episodes_done} of {args.episodes} episodes "
                "were already logged",
                file=sys.stderr,
            )
        meta = {
            "dialog_rl.scenario_hash": domain.content_hash,
            "dialog_rl.policy": args.policy,
            "dialog_rl.seed": str(args.seed),
            "dialog_rl.noise": str(noise),
            "dialog_rl.observation_spec": json.dumps(spec.to_dict()),
        }
    job = RolloutJob(
        domain,
        policy=args.policy,
        episodes=args.episodes,
        seed=args.seed,
        noise=args.noise,
        channel=args.channel,
        max_turns=args.max_turns,
        epsilon=args.epsilon,
        explore=not args.greedy,
        lifetime=args.lifetime,
        log_dir=str(out / "log") if run is not None else None,
        log_metadata=meta,
        text=args.text,
        part_episodes=run.part_episodes if run is not None else PART_EPISODES,
        skip_parts=run.done_parts if run is not None else frozenset(),
        vector_envs=args.batch or (TEXT_VECTOR_ENVS if args.channel == "text" else VECTOR_ENVS),
    )

    outcomes = []
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
    try:
        # Chunks come back in episode order whatever the backend, so outcomes (and the metrics)
        # are the same list for any number of workers.
        chunks = run_rollouts(job, backend=args.backend, workers=args.workers, address=args.address)
        for chunk in chunks:
            if run is not None:
                run.add(chunk.start, chunk.outcomes)  # records each part once it is on disk
            else:
                outcomes.extend(chunk.outcomes)
            turns += chunk.turns
            bar.update(len(chunk.outcomes))
        bar.close()
    except BackendError as err:
        if run is not None:
            if run.episodes_done == 0:  # leave no trace of a run that could not start
                run.discard()
            else:
                run.interrupt()
        raise UsageError(str(err)) from None
    except BaseException:
        if run is not None:
            run.interrupt()  # what is on disk stays, for --resume
        raise
    elapsed = time.perf_counter() - start
    if run is not None:
        outcomes = run.outcomes()  # with the parts an interrupted run had already played
    metrics = summarize_lifetimes(outcomes) if args.lifetime else summarize(outcomes)
    rows = sum(int(o["turns"]) for o in outcomes)
    if run is not None:
        run.complete(metrics)

    print(
        f"scenario {domain.name}, policy {args.policy}, noise {noise:.2f}, "
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
        if metrics["by_persona"]:
            print("  by persona")
        for name, group in metrics["by_persona"].items():
            print(
                f"    {name:<10} {group['customers']:>6} customers, retention "
                f"{format_metric(group['retention'], pct=True)}, value "
                f"{format_metric(group['lifetime_value'])}"
            )
        print(f"  speed       {turns / elapsed:,.0f} turns/s ({turns} turns in {elapsed:.1f} s)")
        if out is not None:
            print(f"  wrote {out}/log (Parquet, {rows} rows) and {out}/summary.json")
        return 0
    print(f"  success     {format_metric(metrics['success'], pct=True)}")
    print(f"  reward      {format_metric(metrics['reward'])}")
    print(f"  turns       {format_metric(metrics['turns'])}")
    print(f"  hang-ups    {format_metric(metrics['hangup'], pct=True)}")
    print(f"  hand-overs  {format_metric(metrics['handover'], pct=True)}")
    print(f"  truncated   {format_metric(metrics['truncated'], pct=True)}")
    print(f"  speed       {turns / elapsed:,.0f} turns/s ({turns} turns in {elapsed:.1f} s)")
    if out is not None:
        print(f"  wrote {out}/log (Parquet, {rows} rows) and {out}/summary.json")
    return 0


def _simulation_run(
    args: argparse.Namespace, argv: list[str], out: Path, domain, noise: float, policy
):
    """Open ``--out`` under its lock: a fresh run, or the interrupted one ``--resume`` finishes."""
    import dialog_rl
    from dialog_rl.rollout.logs import PART_EPISODES
    from dialog_rl.rollout.rundir import SimulationRun, SimulationRunError, stored_part_episodes
    from dialog_rl.rollout.runlock import RunLockedError

    part = args.part_episodes or (args.resume and stored_part_episodes(out)) or PART_EPISODES
    header = {
        "scenario": domain.name,
        "scenario_path": args.scenario,
        "scenario_hash": domain.content_hash,
        "dialog_rl_version": dialog_rl.__version__,
        "command": ["dialog-rl", *argv],
        "seed": args.seed,
        "policy": {"name": args.policy, **policy.config()},
        "noise": noise,
        "channel": args.channel,
        "explore": not args.greedy,
    }
    from dialog_rl.seeding import CONVERSATIONS_VERSION

    identity = {
        "conversations": CONVERSATIONS_VERSION,
        "scenario_hash": domain.content_hash,
        "policy": header["policy"],
        "policy_sha256": _policy_sha256(args.policy),
        "seed": args.seed,
        "noise": noise,
        "channel": args.channel,
        "text": args.text or args.channel == "text",
        "epsilon": args.epsilon,
        "explore": not args.greedy,
        "max_turns": args.max_turns,
        "lifetime": args.lifetime,
        "episodes": args.episodes,
        "part_episodes": part,
    }
    try:
        return SimulationRun(out, header, identity).open(force=args.force, resume=args.resume)
    except (RunLockedError, SimulationRunError) as err:
        raise UsageError(str(err)) from None


def _policy_sha256(name: str) -> str | None:
    """sha256 of a trained policy's metadata (it holds its weights' hash); None for built-ins."""
    if name in ("random", "rule"):
        return None
    import hashlib

    from dialog_rl.policies.checkpoint import META, resolve_checkpoint

    return hashlib.sha256((resolve_checkpoint(name) / META).read_bytes()).hexdigest()


# -- train -------------------------------------------------------------------------------------


def _hyperparameters(items: list[str]) -> dict:
    """``KEY=VALUE`` pairs; values are read as JSON (numbers, true, lists) or else as text."""
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


def _check_train_inputs(args: argparse.Namespace, domain, config) -> None:
    """Raise what ``train`` would raise about its inputs (before --force deletes anything)."""
    from dialog_rl.policies import make_learner
    from dialog_rl.train import load_demos
    from dialog_rl.train.loop import make_env

    spec = make_env(domain, config).spec_obs
    make_learner(args.algo, domain, spec, args.seed, **config.learner_hyperparameters())
    if args.demos:
        load_demos(args.demos, domain, spec, args.override_weight)


def cmd_train(args: argparse.Namespace, argv: list[str]) -> int:
    from dialog_rl.domain import load_domain
    from dialog_rl.train import DemoError, TrainConfig, TrainError, train

    if args.resume and args.force:
        raise UsageError("--resume continues --out and --force replaces it: pass one of them")
    from dialog_rl.outputs import TRAIN, check_replaceable_directory, clear_directory
    from dialog_rl.rollout.runlock import RunLock, RunLockedError, check_not_locked, has_content

    out = Path(args.out)
    if args.tensorboard and Path(args.tensorboard).exists() and not Path(args.tensorboard).is_dir():
        raise UsageError(f"--tensorboard {args.tensorboard}: exists and is not a directory")
    if args.force and os.path.lexists(out) and (not out.is_dir() or has_content(out)):
        try:
            check_not_locked(out)  # first name the live run, if one writes there
        except RunLockedError as err:
            raise UsageError(str(err)) from None
        check_replaceable_directory(out, TRAIN)  # before anything: only a run train made
    domain = load_domain(args.scenario, args.kb_root)
    created = not out.exists()
    lock = RunLock(out)
    try:
        config = TrainConfig(
            algo=args.algo,
            dialogues=args.dialogues,
            seed=args.seed,
            noise=args.noise,
            hyperparameters=_hyperparameters(args.hp),
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
        if args.address is not None and args.backend != "ray":
            raise UsageError("--address needs --backend ray")
        if not out.exists() or out.is_dir():  # (a file is refused by train, writing nothing)
            # held until the process ends: one run writes --out at a time, --force included
            lock.acquire()
        if args.force and lock.held and has_content(out):
            _check_train_inputs(args, domain, config)  # before deleting what is there
            clear_directory(out, TRAIN)
        callbacks = []
        if args.tensorboard:
            from dialog_rl.train.tensorboard import TensorBoardLog

            callbacks.append(TensorBoardLog(args.tensorboard))
        result = train(
            domain,
            config,
            out,
            callbacks=callbacks,
            resume=args.resume,
            progress=not args.no_progress,
            run_info={"scenario_path": args.scenario, "command": ["dialog-rl", *argv]},
        )
    except (TrainError, DemoError, RunLockedError) as err:
        raise UsageError(str(err)) from None
    finally:
        if created and lock.held and out.is_dir() and not has_content(out):
            shutil.rmtree(out, ignore_errors=True)  # refused before writing: leave nothing
        lock.release()
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
        lifetime=args.lifetime,
        open_path=args.open,
        kb_roots=args.kb_root,
        error=UsageError,
    )
    from dialog_rl.tui.app import DialogApp  # textual only once the session is known to be good

    DialogApp(session, args.out).run()
    return 0


# -- compare -----------------------------------------------------------------------------------


def _add_compare_parser(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="simulated customers against real ones (an annotated corpus), side by side",
        description="Simulated customers (rule policy, text channel) against the real ones of an "
        "annotated corpus in MultiWOZ's JSON format: user turns per conversation, act-type "
        "shares, slots per inform, booking share, each with a 95% bootstrap interval, and "
        "act_tv, the total-variation distance between the act-type distributions the "
        "scenario's NLU reads on both sides.",
    )
    p.add_argument("--scenario", required=True, help="scenario YAML file, or a shipped one by name")
    p.add_argument(
        "--corpus",
        required=True,
        help="annotated dialogues: id -> {goal, turns: [{speaker, text, dialog_act}]} (JSON)",
    )
    p.add_argument(
        "--domain",
        default=None,
        help="the corpus's domain to compare with (default: the scenario's name); dialogues "
        "about other domains too are left out",
    )
    p.add_argument("--episodes", type=_positive_int, default=1000, help="simulated conversations")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulation and the bootstrap")
    p.add_argument("--noise", type=_probability, default=None, help="word error rate (0-1)")
    p.add_argument("--json", default=None, help="also write the figures as JSON to this file")
    _add_kb_root(p)
    p.set_defaults(handler=cmd_compare)


def cmd_compare(args: argparse.Namespace, argv: list[str]) -> int:
    from dialog_rl.domain import load_domain
    from dialog_rl.outputs import check_replaceable_file, stamp, write_file
    from dialog_rl.realism.compare import compare, format_comparison, real_side, simulated_side
    from dialog_rl.realism.corpus import CorpusError, dialogues_about, load_corpus

    if args.json:  # before the work: an existing file is replaced only if compare wrote it
        check_replaceable_file(args.json, "compare", "--json")
    domain = load_domain(args.scenario, args.kb_root)
    try:
        corpus = load_corpus(args.corpus)
    except CorpusError as err:
        raise UsageError(str(err)) from None
    name = (args.domain or domain.name).lower()
    dialogues = dialogues_about(corpus, name)
    if not dialogues:
        found = sorted({x for d in corpus.values() for x in d.domains}) or ["none labelled"]
        raise UsageError(
            f"{args.corpus}: no dialogue is about {name!r} alone (its domains: "
            f"{', '.join(found)}); name one with --domain"
        )
    real = real_side(domain, dialogues, name)
    simulated, outcomes = simulated_side(domain, args.episodes, args.seed, args.noise)
    result = compare(real, simulated, seed=args.seed)
    noise = domain.error_rate if args.noise is None else args.noise
    print(
        f"scenario {domain.name} (rule policy, text channel, word noise {noise:.2f}, "
        f"{args.episodes} conversations, seed {args.seed}) against {len(dialogues)} real "
        f"dialogues about {name} in {args.corpus} ({len(corpus) - len(dialogues)} about other "
        "domains too, left out)"
    )
    print(format_comparison(result))
    if args.json:
        result.update(
            scenario=domain.name,
            scenario_hash=domain.content_hash,
            corpus=str(args.corpus),
            domain=name,
            episodes=args.episodes,
            seed=args.seed,
            noise=noise,
            outcomes=outcomes,
        )
        result.update(stamp("compare"))
        text = json.dumps(result, indent=2, sort_keys=True) + "\n"
        write_file(args.json, text.encode(), "compare", "--json")
        print(f"  wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
