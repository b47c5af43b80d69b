"""Off-policy evaluation over customer lifetimes: `dialog-rl ope` on `simulate --lifetime` logs."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from dialog_rl.cli import main
from dialog_rl.ope.errors import OPEInputError
from dialog_rl.ope.logged import load_logged
from dialog_rl.ope.stationary import lifetime_state_keys

SCENARIO = "scenarios/order_support.yaml"


@pytest.fixture(scope="module")
def lifetimes(tmp_path_factory):
    out = tmp_path_factory.mktemp("ope_lifetime") / "logs"
    args = ["simulate", "--scenario", SCENARIO, "--lifetime", "--policy", "rule"]
    args += ["--epsilon", "0.3", "--episodes", "120", "--seed", "4", "--no-progress"]
    assert main([*args, "--out", str(out)]) == 0
    return out


def _ope(capsys, tmp_path, *argv: str) -> tuple[str, dict]:
    js = tmp_path / "ope.json"
    assert main(["ope", *argv, "--bootstrap", "40", "--json", str(js)]) == 0
    return capsys.readouterr().out, json.loads(js.read_text())


def test_a_trajectory_is_a_customers_whole_lifetime(lifetimes):
    logged = load_logged(lifetimes)
    table = pq.read_table(sorted((lifetimes / "log").glob("part-*.parquet")))
    summary = json.loads((lifetimes / "summary.json").read_text())
    assert logged.n_episodes == 120
    assert logged.valid.sum() == table.num_rows
    assert logged.visit.max() >= 2  # some customers came back more than once
    returns = logged.reward.sum(1)
    assert returns.mean() == pytest.approx(summary["metrics"]["lifetime_value"]["mean"])


def test_target_equal_to_logger_gives_the_logged_lifetime_value(lifetimes):
    # target = the logger itself (rule, exploring with the logged epsilon): every ratio is 1
    from dialog_rl.domain import load_domain
    from dialog_rl.env import LifetimeEnv
    from dialog_rl.ope.command import logger_distribution
    from dialog_rl.ope.report import evaluate_logged, format_report

    logged = load_logged(lifetimes)
    domain = load_domain(SCENARIO)
    spec = LifetimeEnv(domain).spec_obs
    dist, warning = logger_distribution(logged, domain, spec)
    assert dist is not None and warning is None
    result = evaluate_logged(logged, dist, feature_names=spec.names, n_bootstrap=40)
    logged_value = float(logged.reward.sum(1).mean())
    for name in ("IS", "WIS", "PDIS", "WPDIS"):
        assert result.row(name).estimate.value == pytest.approx(logged_value, rel=1e-9)
    assert result.row("SR").estimate.value == pytest.approx(logged_value, rel=1e-4)
    assert result.weights.ess == pytest.approx(120)
    assert "value per customer lifetime" in format_report(result, unit="customer lifetime")


def test_truth_plays_lifetimes_cut_like_the_logs_and_intervals_cover_it(
    lifetimes, capsys, tmp_path
):
    argv = ["--logs", str(lifetimes), "--policy", "rule", "--truth"]
    out, data = _ope(capsys, tmp_path, *argv, "--episodes-truth", "400", "--max-visits", "3")
    assert "400 customer lifetimes played online" in out
    assert "their first 3 visits" in out
    truth = data["truth"]["value"]
    # 120 logged customers: the intervals are wide, but must hold the lifetimes' true value
    for name in ("IS", "WIS", "PDIS", "WPDIS", "DR", "WDR", "SR"):
        lo, hi = data["trajectory"][name]["ci"]
        assert lo <= truth <= hi, name
    assert abs(data["trajectory"]["FQE"]["value"] - truth) < 0.25 * abs(truth)


def test_first_visits_cuts_each_lifetime_in_place(lifetimes):
    logged = load_logged(lifetimes)
    table = pq.read_table(sorted((lifetimes / "log").glob("part-*.parquet")))
    visit = np.asarray(table.column("visit"))
    reward = np.asarray(table.column("reward"))
    one = logged.first_visits(1)
    assert one.valid.sum() == (visit == 0).sum()
    assert one.reward.sum() == pytest.approx(reward[visit == 0].sum())
    assert (one.visit[one.valid] == 0).all() and one.max_visits == 1
    h = one.valid.shape[1]
    assert (one.action == np.where(one.valid, logged.action[:, :h], 0)).all()
    came_back = (logged.visit > 0).any(1)
    assert (one.truncated == (logged.truncated | came_back)).all()
    whole = logged.first_visits(int(logged.visit.max()) + 1)
    assert (whole.valid == logged.valid).all() and (whole.reward == logged.reward).all()


def test_lifetime_state_keys_mark_the_last_visit_the_cap_allows():
    keys = np.array([[0, 1, 0, 1, 0, 1]])
    visit = np.array([[0, 0, 1, 1, 2, 2]])
    out = lifetime_state_keys(keys, visit, 2)
    # visits 1 and 2 are both "last allowed" under a cap of 2; visit 0 is not
    assert out[0, 0] == out[0, 0] and out[0, 0] != out[0, 2]
    assert out[0, 2] == out[0, 4] and out[0, 3] == out[0, 5] and out[0, 1] != out[0, 3]


def test_max_visits_on_single_conversation_logs_is_refused(tmp_path, capsys):
    out = tmp_path / "conv"
    args = ["simulate", "--scenario", SCENARIO, "--policy", "rule", "--epsilon", "0.3"]
    assert main([*args, "--episodes", "20", "--no-progress", "--out", str(out)]) == 0
    capsys.readouterr()
    code = main(["ope", "--logs", str(out), "--policy", "rule", "--max-visits", "2", "--no-fqe"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--max-visits" in err and "not customer lifetimes" in err
    assert "Traceback" not in err


def test_mixed_up_lifetime_rows_are_refused(lifetimes, tmp_path):
    table = pq.read_table(sorted((lifetimes / "log").glob("part-*.parquet")))
    visit = np.asarray(table.column("visit")).copy()
    episode = np.asarray(table.column("episode"))
    i = int(np.flatnonzero((visit > 0) & (episode == episode[visit > 0][0]))[-1])
    visit[i] = 0  # the customer's last turn now claims to be on their first visit
    bad = table.set_column(table.schema.get_field_index("visit"), "visit", [visit.tolist()])
    pq.write_table(bad, tmp_path / "part-00000.parquet")
    with pytest.raises(OPEInputError, match=f"episode {episode[i]} goes back from visit"):
        load_logged(tmp_path / "part-00000.parquet")


def test_online_truth_with_max_visits_sums_only_those_visits():
    from dialog_rl.domain import load_domain
    from dialog_rl.env import LifetimeEnv
    from dialog_rl.ope.report import online_value
    from dialog_rl.policies import make_policy
    from dialog_rl.policies.base import sample
    from dialog_rl.rollout.runner import episode_seed, policy_rng

    domain = load_domain(SCENARIO)
    env = LifetimeEnv(domain)
    policy = make_policy("rule", domain, env.spec_obs)
    _, capped = online_value(env, policy, episodes=30, seed=9, max_visits=2)
    first_two = np.zeros(30)
    for i in range(30):  # the same customers played to the end, counting visits 0 and 1 only
        s = episode_seed(9, i)
        obs, info = env.reset(seed=s)
        rng = policy_rng(s)
        done = False
        while not done:
            obs, r, term, trunc, info = env.step(
                sample(policy.probabilities(obs, info["action_mask"], False), rng)
            )
            first_two[i] += r if info["visit"] < 2 else 0.0
            done = term or trunc
    assert capped == pytest.approx(first_two)
    _, whole = online_value(env, policy, episodes=30, seed=9)
    assert (whole >= capped - 1e-9).any() and not np.allclose(whole, capped)


def test_collapsed_lifetime_weights_are_warned_about(capsys, tmp_path):
    # a logger that explores half the time: over whole lifetimes the weights collapse
    logs = tmp_path / "explorer"
    args = ["simulate", "--scenario", SCENARIO, "--lifetime", "--policy", "rule"]
    args += ["--epsilon", "0.5", "--episodes", "120", "--seed", "4", "--no-progress"]
    assert main([*args, "--out", str(logs)]) == 0
    capsys.readouterr()
    base = ["--logs", str(logs), "--policy", "rule", "--no-fqe"]
    out, data = _ope(capsys, tmp_path, *base)
    assert data["weights"]["ess_fraction"] < 0.05
    assert "warning: customer lifetimes: the lifetime weights have collapsed" in out
    out, data = _ope(capsys, tmp_path, *base, "--max-visits", "1")
    assert data["weights"]["ess_fraction"] > 0.05
    assert "customer lifetimes: the lifetime weights" not in out
