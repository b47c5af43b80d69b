"""The work of ``dialog-rl regress``: the gate, its offline mode, and golden conversations.

The parsers are ``dialog_rl/cli/regress.py``'s; it calls these with the parsed arguments (the gate
once it has checked that ``--baseline``, ``--candidate`` and ``--scenario`` are there) and its
usage-error class ``error`` (one line, exit code 2). Exit codes: 0 pass, 1 regression (or changed
golden conversations), 2 usage error (bad arguments, scenario, policy, logs or golden file, or a
scenario that fails its health checks).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# -- the gate ----------------------------------------------------------------------------------


def cmd_regress(args: argparse.Namespace, argv: list[str], error: type[Exception]) -> int:
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
        explore=args.explore,
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
        explore=args.explore,
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
        explore=args.explore,
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
