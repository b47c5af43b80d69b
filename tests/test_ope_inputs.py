"""Bad input to off-policy evaluation: one clear error, from Python and from `dialog-rl ope`."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dialog_rl.cli import main
from dialog_rl.ope import bandit, trajectory
from dialog_rl.ope.logged import load_logged
from dialog_rl.ope.stationary import StationaryRatio
from dialog_rl.ope.validation import OPEInputError

SCENARIO = "scenarios/restaurant.yaml"
OTHER = "scenarios/shopping.yaml"

R = np.array([[1.0, 2.0], [3.0, 0.0]])
P = np.array([[0.5, 0.5], [0.5, 0.5]])
T = np.array([[1.0, 0.5], [0.25, 1.0]])

ARRAY_CASES = [
    # (id, pscore, target_prob, match)
    ("missing", None, T, "pscore is missing"),
    ("zero", np.array([[0.5, 0.0], [0.5, 0.5]]), T, r"pscore must be > 0.*episode 0, decision 1"),
    (
        "above one",
        np.array([[0.5, 0.5], [1.5, 0.5]]),
        T,
        r"pscore must be <= 1.*episode 1, decision 0",
    ),
    (
        "nan",
        np.array([[0.5, np.nan], [0.5, 0.5]]),
        T,
        r"missing values \(NaN\).*episode 0, decision 1",
    ),
    (
        "target above one",
        P,
        np.array([[1.0, 2.0], [0.5, 0.5]]),
        "target_prob must be probabilities",
    ),
    ("shapes", P[:1], T, "same shape"),
]


@pytest.mark.parametrize(
    ("pscore", "target", "match"), [c[1:] for c in ARRAY_CASES], ids=[c[0] for c in ARRAY_CASES]
)
@pytest.mark.parametrize("estimator", [trajectory.IS(), trajectory.WPDIS()], ids=["IS", "WPDIS"])
def test_trajectory_estimators_refuse_bad_propensities(estimator, pscore, target, match):
    with pytest.raises(OPEInputError, match=match):
        estimator.estimate_policy_value(R, pscore, target)


@pytest.mark.parametrize(
    ("pscore", "target", "match"),
    [c[1:] for c in ARRAY_CASES[:4]],
    ids=[c[0] for c in ARRAY_CASES[:4]],
)
def test_stationary_ratio_refuses_bad_propensities(pscore, target, match):
    with pytest.raises(OPEInputError, match=match):
        StationaryRatio().estimate_policy_value(np.zeros((2, 2), dtype=int), R, pscore, target)


@pytest.mark.parametrize(
    ("pscore", "match"),
    [
        (None, "pscore is missing"),
        (np.array([0.5, 0.0]), r"pscore must be > 0.*row 1"),
        (np.array([1.2, 0.5]), r"pscore must be <= 1.*row 0"),
        (np.array([0.5, np.nan]), r"NaN.*row 1"),
    ],
    ids=["missing", "zero", "above one", "nan"],
)
def test_decision_estimators_refuse_bad_propensities(pscore, match):
    dist = np.array([[0.5, 0.5], [1.0, 0.0]])
    with pytest.raises(OPEInputError, match=match):
        bandit.IPS().estimate_policy_value(np.array([1.0, 0.0]), np.array([0, 1]), pscore, dist)


def test_model_based_estimators_need_a_model():
    with pytest.raises(OPEInputError, match="needs q_hat and v_hat"):
        trajectory.DR().estimate_policy_value(R, P, T)
    with pytest.raises(OPEInputError, match="needs estimated_rewards"):
        bandit.DM().estimate_policy_value(
            np.ones(2), np.array([0, 1]), np.ones(2) / 2, np.ones((2, 2)) / 2
        )


def test_hyperparameters_are_checked_when_built():
    with pytest.raises(ValueError, match="gamma"):
        trajectory.PDIS(gamma=0.0)
    with pytest.raises(ValueError, match="tau"):
        bandit.SwitchDR(tau=-1.0)
    with pytest.raises(ValueError, match="ridge"):
        StationaryRatio(ridge=0.0)


# -- logs on disk ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    out = tmp_path_factory.mktemp("ope") / "logs"
    args = ["simulate", "--scenario", SCENARIO, "--policy", "rule", "--epsilon", "0.3"]
    assert (
        main([*args, "--episodes", "150", "--seed", "4", "--no-progress", "--out", str(out)]) == 0
    )
    return out


def _copy_with(logs, tmp_path, edit) -> str:
    """A copy of the run directory whose Parquet table went through ``edit``."""
    import shutil

    dst = tmp_path / "edited"
    shutil.copytree(logs, dst)
    part = dst / "log" / "part-00000.parquet"
    table = pq.read_table(part)
    pq.write_table(edit(table), part)
    return str(dst)


def _set_propensity(value):
    def edit(table: pa.Table) -> pa.Table:
        p = table.column("propensity").to_pylist()
        p[7] = value
        i = table.schema.get_field_index("propensity")
        return table.set_column(i, "propensity", pa.array(p, pa.float64()))

    return edit


def _truncate(logs, tmp_path) -> str:
    import shutil

    dst = tmp_path / "truncated"
    shutil.copytree(logs, dst)
    part = dst / "log" / "part-00000.parquet"
    data = part.read_bytes()
    part.write_bytes(data[: len(data) // 2])
    return str(dst)


LOG_CASES = [
    # (id, make the bad logs, extra CLI args, expected message)
    (
        "no propensity column",
        lambda logs, tmp: _copy_with(logs, tmp, lambda t: t.drop_columns(["propensity"])),
        [],
        "no 'propensity' column",
    ),
    (
        "propensity zero",
        lambda logs, tmp: _copy_with(logs, tmp, _set_propensity(0.0)),
        [],
        r"propensity must be in \(0, 1\], got 0",
    ),
    (
        "propensity above one",
        lambda logs, tmp: _copy_with(logs, tmp, _set_propensity(1.5)),
        [],
        "got 1.5, above 1",
    ),
    (
        "propensity missing",
        lambda logs, tmp: _copy_with(logs, tmp, _set_propensity(None)),
        [],
        "propensity missing at episode",
    ),
    ("truncated parquet", _truncate, [], "not a readable Parquet file"),
    ("no such logs", lambda logs, tmp: str(tmp / "nowhere"), [], "no such file or directory"),
]


@pytest.mark.parametrize(
    ("make", "extra", "match"), [c[1:] for c in LOG_CASES], ids=[c[0] for c in LOG_CASES]
)
def test_bad_logs_are_refused_by_the_loader(logs, tmp_path, make, extra, match):
    with pytest.raises(OPEInputError, match=match):
        load_logged(make(logs, tmp_path))


@pytest.mark.parametrize(
    ("make", "extra", "match"), [c[1:] for c in LOG_CASES], ids=[c[0] for c in LOG_CASES]
)
def test_bad_logs_exit_2_with_one_line(logs, tmp_path, capsys, make, extra, match):
    path = make(logs, tmp_path)
    code = main(
        ["ope", "--logs", path, "--policy", "rule", "--no-fqe", "--bootstrap", "20", *extra]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("dialog-rl: error: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err
    import re

    assert re.search(match, err)


def test_scenario_other_than_the_logs_is_refused(logs, capsys):
    code = main(["ope", "--logs", str(logs), "--policy", "rule", "--scenario", OTHER, "--no-fqe"])
    assert code == 2
    assert "differs from the one the logs were recorded on" in capsys.readouterr().err


def test_policy_trained_on_another_scenario_is_refused(logs, tmp_path, capsys):
    from dialog_rl.domain import load_domain
    from dialog_rl.env.featurizer import observation_spec
    from dialog_rl.policies import make_learner
    from dialog_rl.policies.checkpoint import save_checkpoint

    other = load_domain(OTHER)
    spec = observation_spec(other)
    ckpt = save_checkpoint(
        tmp_path / "shop", make_learner("egreedy", other, spec, 0), other, spec, seed=0
    )
    code = main(["ope", "--logs", str(logs), "--policy", str(ckpt), "--no-fqe"])
    err = capsys.readouterr().err
    assert code == 2
    assert "trained on scenario" in err or "made for scenario" in err


def test_logs_of_a_greedy_logger_warn_about_support(tmp_path, capsys):
    out = tmp_path / "greedy"
    args = ["simulate", "--scenario", SCENARIO, "--policy", "rule", "--greedy", "--episodes", "60"]
    assert main([*args, "--no-progress", "--out", str(out)]) == 0
    assert (
        main(["ope", "--logs", str(out), "--policy", "random", "--no-fqe", "--bootstrap", "20"])
        == 0
    )
    text = capsys.readouterr().out
    assert "warning: support: the target puts" in text
