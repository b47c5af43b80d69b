"""The gate's verdicts on real simulations: same policy, degraded policies, false alarms."""

from __future__ import annotations

import numpy as np
import pytest

from dialog_rl.env import DialogueEnv
from dialog_rl.policies import PolicyError, RulePolicy
from dialog_rl.regress.crn import paired_env
from dialog_rl.regress.gate import GateConfig, _play, look_schedule, run_gate
from dialog_rl.regress.report import text_report
from dialog_rl.regress.variants import EarlyHandoverRule, NoConfirmRule, resolve_policy
from dialog_rl.rollout.runner import episode_seed, policy_rng, run_episodes

RESTAURANT = "scenarios/restaurant.yaml"


def gate(baseline, candidate, domain=None, **kw):
    kw.setdefault("noise", 0.15)
    kw.setdefault("health_episodes", 0)
    return run_gate(GateConfig(RESTAURANT, baseline, candidate, **kw), domain=domain)


@pytest.mark.parametrize("scenario", ["restaurant", "order_support", "shopping"])
def test_same_policy_as_candidate_and_baseline_passes_with_zero_difference(scenario):
    result = run_gate(GateConfig(f"scenarios/{scenario}.yaml", "rule", "rule", episodes=200))
    assert result.passed and result.verdict == "no worse"
    assert result.identical == result.episodes  # common random numbers: the very same talks
    for m in result.metrics:
        assert m.diff == 0.0 and m.ci95 == (0.0, 0.0)


def test_degraded_policy_that_hands_over_too_early_fails_with_a_clear_report():
    result = gate("rule", "rule:early-handover", episodes=2000, health_episodes=100)
    assert result.verdict == "worse" and not result.passed
    assert result.stopped_early  # a large regression is clear long before 2000 episodes
    success = result.primary
    assert success.ci95[1] < -0.1
    report = text_report(result)
    assert "FAIL  WORSE: success" in report
    assert "the candidate is significantly worse than the baseline" in report
    assert "fail (upper bound < 0)" in report
    assert "baseline  rule" in report and "candidate rule:early-handover" in report


def test_policy_that_never_confirms_is_within_a_five_point_margin():
    # Confirmations buy little in this simulator: never confirming is not a 5-point regression.
    result = gate("rule", "rule:noconfirm", episodes=1000, margin=0.05)
    assert result.verdict in ("no worse", "better")


@pytest.mark.slow
def test_false_alarm_rate_of_equivalent_policies_is_close_to_alpha(restaurant):
    # Identical by construction but not identically seeded: the same epsilon-soft rule policy
    # on both sides, each with its own exploration stream, so the differences are real noise.
    # Cheap setting: 100 paired episodes, two looks. (benchmarks/pairing.py runs 1000 repeats.)
    repeats, fails = 100, 0
    for r in range(repeats):
        result = gate(
            "rule:eps=0.2",
            "rule:eps=0.2",
            domain=restaurant,
            episodes=100,
            looks=2,
            seed=1000 + r,
            independent_exploration=True,
        )
        assert result.identical < result.episodes  # the comparison is not trivially exact
        fails += result.verdict == "worse"
    # alpha = 0.05: binomial(100, 0.05) lies in [1, 11] with probability 0.99
    assert 1 <= fails <= 11, fails


@pytest.mark.parametrize("pairing", ["turn", "episode"])
def test_pairing_by_turn_reproduces_simulate_exactly(restaurant, pairing):
    env = DialogueEnv(restaurant, noise=0.15)
    policy = RulePolicy(restaurant, env.spec_obs, epsilon=0.1)
    expected = [r.outcome for r in run_episodes(env, policy, range(150), 4)]
    paired = paired_env(restaurant, 0.15, pairing=pairing)
    got = [
        _play(paired, policy, episode_seed(4, i), policy_rng(episode_seed(4, i)), True)
        for i in range(150)
    ]
    assert got == expected


def test_act_pairing_keys_noise_by_what_is_said_not_by_when(restaurant):
    """Two conversations with one customer: the same act said for the first time is heard with
    the same confidence, whatever came before; said again, it gets fresh draws."""
    a = paired_env(restaurant, 0.3, pairing="act")
    b = paired_env(restaurant, 0.3, pairing="act")
    seed = episode_seed(3, 1)
    heard = {}
    for env, actions in ((a, ["request(area)", "request(food)"]), (b, ["request(food)"])):
        _, info = env.reset(seed=seed)
        said: dict = {}
        for name in [None, *actions]:
            if name is not None:
                _, _, _, _, info = env.step(restaurant.action_index(name))
            for act, obs in zip(info["user_acts"], info["observed_acts"]):
                said.setdefault(act, []).append(obs)
        heard[env] = said
    common = set(heard[a]) & set(heard[b])
    assert common  # the food answer is said in both
    for act in common:
        assert heard[a][act][0] == heard[b][act][0]


def test_act_pairing_leaves_each_policys_success_rate_unchanged(restaurant):
    policy = RulePolicy(restaurant, paired_env(restaurant).spec_obs)
    rates = {}
    for pairing in ("episode", "act"):
        env = paired_env(restaurant, 0.3, pairing=pairing)
        rates[pairing] = np.mean(
            [
                _play(env, policy, episode_seed(9, i), policy_rng(episode_seed(9, i)), True)[
                    "success"
                ]
                for i in range(1500)
            ]
        )
    # same distribution, different draws: within sampling error (sd of the gap ~0.012)
    assert abs(rates["act"] - rates["episode"]) < 0.04


def test_degraded_variants_do_what_their_names_say(restaurant):
    env = DialogueEnv(restaurant, noise=0.3)
    confirms = [a for a, n in enumerate(restaurant.act_names) if n.startswith("confirm")]
    handover = restaurant.act_names.index("handover")
    taken = {"noconfirm": set(), "early-handover": set()}
    for name, policy in (
        ("noconfirm", NoConfirmRule(restaurant, env.spec_obs)),
        ("early-handover", EarlyHandoverRule(restaurant, env.spec_obs)),
    ):
        for rec in run_episodes(env, policy, range(100), 0, record=True):
            taken[name].update(rec.turns["action"])
    assert not taken["noconfirm"] & set(confirms)
    assert handover in taken["early-handover"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("rule:sometimes", "unknown variant 'sometimes'"),
        ("rule:eps=2", "eps must be between 0 and 1"),
        ("rule:eps=x", "eps must be a number"),
        ("random:noconfirm", "apply to the rule policy only"),
        ("rule:noconfirm:early-handover", "choose one of"),
        ("nosuchdir", "unknown policy 'nosuchdir'"),
    ],
)
def test_bad_policy_names_are_refused_with_a_message(restaurant, name, message):
    with pytest.raises(PolicyError, match=message):
        resolve_policy(name, restaurant, DialogueEnv(restaurant).spec_obs)


def test_policy_options_reach_the_rule_policy(restaurant):
    spec = DialogueEnv(restaurant).spec_obs
    p = resolve_policy("rule:eps=0.2:confirm-below=0.8", restaurant, spec)
    assert isinstance(p, RulePolicy) and p.epsilon == 0.2 and p.confirm_below == 0.8
    assert resolve_policy("rule:early-handover:eps=0.1", restaurant, spec).epsilon == 0.1


def test_looks_are_never_smaller_than_fifty_episodes():
    assert look_schedule(2000, 5) == [400, 800, 1200, 1600, 2000]
    assert look_schedule(120, 5) == [60, 120]
    assert look_schedule(80, 5) == [80]
    assert look_schedule(100, 2) == [50, 100]


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError, match="alpha"):
        GateConfig(RESTAURANT, "rule", "rule", alpha=0.7)
    with pytest.raises(ValueError, match="metric"):
        GateConfig(RESTAURANT, "rule", "rule", metric="happiness")
    with pytest.raises(ValueError, match="margin"):
        GateConfig(RESTAURANT, "rule", "rule", margin=0)
