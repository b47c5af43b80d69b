"""``dialog-rl compare``: simulated customers against the real ones of an annotated corpus."""

from __future__ import annotations

import argparse

from dialog_rl.cli.corpus import corpus_dialogues
from dialog_rl.cli.options import (
    CORPUS,
    CORPUS_DOMAIN,
    EPISODES,
    JSON,
    KB_ROOT,
    NOISE,
    POLICY,
    SCENARIO,
    SEED,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="simulated customers against real ones (an annotated corpus), side by side",
        description="Simulated customers (the agent: the rule policy or --policy; text channel) "
        "against the real ones of an "
        "annotated corpus in MultiWOZ's JSON format: user turns per conversation, act-type "
        "shares, slots per inform, booking share, each with a 95% bootstrap interval, and "
        "act_tv, the total-variation distance between the act-type distributions the "
        "scenario's NLU reads on both sides.",
    )
    SCENARIO.add(p, required=True)
    CORPUS.add(p, required=True)
    CORPUS_DOMAIN.add(p, shown_default="the scenario's name, or that of the scenario it extends")
    EPISODES.add(p, default=1000)
    POLICY.add(p, default="rule", detail="the agent the simulated customers talk to")
    SEED.add(p, default=0, detail="the simulation and the bootstrap")
    NOISE.add(p, detail="here the text channel's word error rate", shown_default="the scenario's")
    JSON.add(p)
    KB_ROOT.add(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from dialog_rl.domain import load_domain
    from dialog_rl.env.featurizer import observation_spec
    from dialog_rl.outputs import check_replaceable_file
    from dialog_rl.policies import make_policy
    from dialog_rl.realism.compare import compare, format_comparison, real_side, simulated_side

    if args.json:  # before the work: an existing file is replaced only if compare wrote it
        check_replaceable_file(args.json, "compare", "--json")
    domain = load_domain(args.scenario, args.kb_root)
    policy = make_policy(args.policy, domain, observation_spec(domain))  # checked before the work
    corpus, name, dialogues = corpus_dialogues(args, domain)
    real = real_side(domain, dialogues, name)
    simulated, outcomes = simulated_side(domain, args.episodes, args.seed, args.noise, policy)
    result = compare(real, simulated, seed=args.seed)
    noise = domain.error_rate if args.noise is None else args.noise
    print(
        f"scenario {domain.name} ({args.policy} policy, text channel, word noise {noise:.2f}, "
        f"{args.episodes} conversations, seed {args.seed}) against {len(dialogues)} real "
        f"dialogues about {name} in {args.corpus} ({len(corpus) - len(dialogues)} about other "
        "domains, left out)"
    )
    print(format_comparison(result))
    if args.json:
        _write_json(args, result, domain, name, noise, outcomes)
    return 0


def _write_json(args, result: dict, domain, name: str, noise: float, outcomes) -> None:
    import json

    from dialog_rl.outputs import stamp, write_file

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
