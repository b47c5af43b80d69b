"""Your own logs: the schema, `logs import` of both shapes, its row-by-row checks, and `ope` on them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dialog_rl.acts import INFORM, REQUEST, USER_ACT_NAMES
from dialog_rl.env import DialogueEnv
from dialog_rl.logs.importer import LogImportError, import_logs
from dialog_rl.logs.schema import COLUMNS, SCHEMA_VERSION, format_schema, required
from dialog_rl.ope.command import OPEArgs, run_ope
from dialog_rl.ope.logged import load_logged
from dialog_rl.policies import make_policy


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dialog_rl.cli", *args], cwd=cwd, capture_output=True, text=True
    )


def _acts_text(domain, observed) -> str:
    parts = []
    for kind, slot, value, conf in observed:
        name = USER_ACT_NAMES[kind]
        if kind == INFORM:
            name += f"({domain.inf_names[slot]}={domain.value_name(slot, value)})"
        elif kind == REQUEST:
            name += f"({domain.req_names[slot]})"
        parts.append(f"{name}@{conf!r}")
    return " | ".join(parts)


def production_log(domain, n: int, epsilon: float = 0.3, seed: int = 0):
    """A log as a production system writes it (acts shape) plus what dialog-rl saw: obs, masks,
    and the rule policy's greedy probabilities at each decision."""
    env = DialogueEnv(domain, noise=0.15)
    agent = make_policy("rule", domain, env.spec_obs, epsilon=epsilon)
    greedy = make_policy("rule", domain, env.spec_obs)
    rng = np.random.default_rng(seed)
    rows, obs_seen, masks, target = [], [], [], []
    for c in range(n):
        obs, info = env.reset(seed=1000 + c)
        heard, t, done = info["observed_acts"], 0, False
        while not done:
            d = agent.act(obs, info["action_mask"], explore=True, rng=rng)
            obs_seen.append(obs.copy())
            masks.append(info["action_mask"].astype(bool))
            target.append(greedy.probabilities(obs, info["action_mask"], explore=False))
            obs, reward, term, trunc, info = env.step(d.action)
            done = term or trunc
            rows.append(
                {
                    "conversation": f"c{c}",
                    "turn": t,
                    "customer_acts": _acts_text(domain, heard),
                    "action": domain.act_names[d.action],
                    "propensity": d.propensity,
                    "reward": reward,
                    "terminated": term,
                    "truncated": trunc,
                    "outcome": info["outcome"]["outcome"] if done else None,
                }
            )
            heard, t = info["observed_acts"], t + 1
    return pd.DataFrame(rows), np.array(obs_seen), np.array(masks), np.array(target)


@pytest.fixture(scope="module")
def logs(restaurant):
    return production_log(restaurant, 60)


def test_schema_names_every_column_with_its_type_and_whether_it_is_required():
    text = format_schema()
    assert text.startswith(f"dialog-rl log schema, version {SCHEMA_VERSION}\n")
    for c in COLUMNS:
        assert c.name in text
    assert required("acts") == [
        "conversation",
        "turn",
        "action",
        "propensity",
        "reward",
        "customer_acts",
    ]
    assert required("features") == [
        "conversation",
        "turn",
        "action",
        "propensity",
        "reward",
        "features",
        "target_probs",
    ]
    out = _cli("logs", "schema", "--json")
    assert out.returncode == 0
    assert json.loads(out.stdout)["version"] == SCHEMA_VERSION


def test_schema_documents_dialog_rls_own_log_column_for_column():
    from dialog_rl.logs import schema
    from dialog_rl.rollout import logs as own

    assert [name for name, _, _ in schema.OWN_COLUMNS] == own.log_schema(3, 2).names
    assert schema.TEXT_COLUMNS == own.TEXT_COLUMNS
    text = format_schema()
    assert "The text columns are null unless utterances were realised: `simulate --text`" in text
    own_log = json.loads(schema.schema_json())["own_log"]
    assert [c["name"] for c in own_log if c["nullable"]] == list(own.TEXT_COLUMNS)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_acts_replay_gives_the_observations_and_masks_the_agent_saw(fmt, logs, tmp_path):
    df, obs, masks, _ = logs
    src = tmp_path / f"log.{fmt}"
    shuffled = df.sample(frac=1, random_state=1)  # rows of a conversation may be anywhere
    if fmt == "csv":
        shuffled.to_csv(src, index=False)
    elif fmt == "parquet":
        shuffled.to_parquet(src)
    else:
        # (json, not DataFrame.to_json: that rounds floats to 10 digits)
        src.write_text("\n".join(json.dumps(r) for r in shuffled.to_dict("records")) + "\n")
    r = import_logs(src, tmp_path / "run", scenario="restaurant")
    assert (r.shape, r.conversations, r.decisions) == ("acts", 60, len(df))
    logged = load_logged(tmp_path / "run")
    # episodes are numbered by first appearance in the file; conversations.csv maps them back
    ids = pd.read_csv(tmp_path / "run" / "conversations.csv")
    assert sorted(ids.conversation) == sorted(f"c{i}" for i in range(60))
    order = np.concatenate([np.flatnonzero(df.conversation == c) for c in ids.conversation])
    np.testing.assert_array_equal(logged.obs[logged.valid], obs[order])
    np.testing.assert_array_equal(logged.mask[logged.valid], masks[order])
    np.testing.assert_array_equal(logged.pscore[logged.valid], df.propensity.to_numpy()[order])


@pytest.mark.slow
def test_an_imported_acts_log_is_evaluated_like_the_simulators_own(logs, tmp_path):
    df, _, _, target = logs
    df.to_csv(tmp_path / "log.csv", index=False)
    out = _cli(
        "logs",
        "import",
        str(tmp_path / "log.csv"),
        "--scenario",
        "restaurant",
        "--out",
        str(tmp_path / "run"),
    )
    assert out.returncode == 0, out.stderr
    assert "60 conversations (acts shape)" in out.stdout
    args = OPEArgs(logs=str(tmp_path / "run"), policy="rule", fqe=False, bootstrap=50)
    text = run_ope(args)
    assert "off-policy evaluation of rule" in text
    # the trajectory IS estimate, by hand from the logged propensities and the target's
    # probabilities the agent's own state gave
    a = df.action.map(lambda n: list(make_names()).index(n)).to_numpy()
    ratio = target[np.arange(len(df)), a] / df.propensity.to_numpy()
    conv = df.conversation.to_numpy()
    per = [np.prod(ratio[conv == c]) * df.reward[conv == c].sum() for c in dict.fromkeys(conv)]
    is_line = next(line for line in text.splitlines() if line.strip().startswith("IS "))
    assert float(is_line.split()[1]) == pytest.approx(np.mean(per), abs=5e-4)


def make_names():
    from dialog_rl.domain import load_domain

    return load_domain("restaurant").act_names


def test_a_log_without_propensities_is_refused_in_one_line_and_nothing_is_written(logs, tmp_path):
    df, *_ = logs
    df.drop(columns="propensity").to_csv(tmp_path / "log.csv", index=False)
    out = _cli(
        "logs",
        "import",
        str(tmp_path / "log.csv"),
        "--scenario",
        "restaurant",
        "--out",
        str(tmp_path / "run"),
    )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        f"dialog-rl: error: {tmp_path / 'log.csv'}: missing required column `propensity`"
    )
    assert "Traceback" not in out.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "log.csv"]


BAD_ROWS = [
    # (row index to break, column, value, expected message after FILE:LINE:COLUMN)
    (3, "propensity", 0.0, "propensity: must be in (0, 1], got 0"),
    (3, "propensity", "often", "propensity: expected a number in (0, 1], got 'often'"),
    (5, "action", "dance", "action: 'dance' is not an action of scenario 'restaurant'"),
    (
        0,
        "customer_acts",
        "inform(food=pizza)@0.9",
        "customer_acts: 'pizza' is not a value of slot 'food'",
    ),
    (
        0,
        "customer_acts",
        "inform(area=north)@1.5",
        "customer_acts: confidence 1.5 of inform is outside [0, 1]",
    ),
    (0, "customer_acts", "shout", "customer_acts: unknown act 'shout'"),
    (2, "turn", 1, "turn: conversation 'c0' repeats turn 1"),
    (4, "reward", "nan", "reward: expected a finite number, got 'nan'"),
    (0, "terminated", "perhaps", "terminated: expected true or false, got 'perhaps'"),
    (0, "terminated", True, "terminated: set on turn 0, but conversation 'c0' goes on"),
]


@pytest.mark.parametrize(("index", "column", "value", "message"), BAD_ROWS)
def test_a_bad_cell_is_reported_as_file_row_column(logs, tmp_path, index, column, value, message):
    df = logs[0].copy()
    df[column] = df[column].astype(object)
    df.loc[index, column] = value
    src = tmp_path / "log.csv"
    df.to_csv(src, index=False)
    with pytest.raises(LogImportError) as err:
        import_logs(src, tmp_path / "run", scenario="restaurant")
    # CSV line = index + 2 (the header is line 1)
    assert str(err.value).startswith(f"{src}:{index + 2}:{message}")
    assert not (tmp_path / "run").exists()


def test_a_logged_action_dialog_rls_tracker_masks_is_refused(logs, tmp_path):
    df = logs[0].copy()
    first = df.index[df.conversation == "c1"][0]
    df.loc[first, "action"] = "inform(phone)"  # nothing has been offered yet
    df.to_csv(tmp_path / "log.csv", index=False)
    with pytest.raises(
        LogImportError, match=r"log\.csv:\d+:action: 'inform\(phone\)' is masked out"
    ):
        import_logs(tmp_path / "log.csv", tmp_path / "run", scenario="restaurant")


def test_features_shape_with_the_targets_probabilities_matches_the_acts_shape(logs, tmp_path):
    df, obs, masks, target = logs
    names = list(make_names())
    feats = pd.DataFrame(
        {
            "conversation": df.conversation,
            "turn": df.turn,
            "features": [json.dumps(o.tolist()) for o in obs],
            "action": [names.index(a) for a in df.action],
            "propensity": df.propensity,
            "reward": df.reward,
            "target_probs": [json.dumps(p.tolist()) for p in target],
            "mask": [json.dumps(m.astype(int).tolist()) for m in masks],
        }
    )
    feats.to_csv(tmp_path / "feats.csv", index=False)
    df.to_csv(tmp_path / "acts.csv", index=False)
    assert import_logs(tmp_path / "feats.csv", tmp_path / "f").shape == "features"
    import_logs(tmp_path / "acts.csv", tmp_path / "a", scenario="restaurant")
    common = dict(fqe=False, bootstrap=50)
    by_probs = run_ope(OPEArgs(logs=str(tmp_path / "f"), policy="logged", **common))
    by_rule = run_ope(OPEArgs(logs=str(tmp_path / "a"), policy="rule", **common))

    def table(text: str) -> list[str]:
        start = text.index("value per conversation")
        return text[start:].split("diagnostics")[0].splitlines()

    # every importance-sampling row is the same (SR keys states by dialog-rl's feature names,
    # which own features do not have, so it may differ)
    same = ("IS ", "WIS ", "PDIS ", "WPDIS ", "IPS ", "SNIPS ")
    assert [x for x in table(by_probs) if x.strip().startswith(same)] == [
        x for x in table(by_rule) if x.strip().startswith(same)
    ]
    assert len([x for x in table(by_rule) if x.strip().startswith(same)]) == 6
    out = _cli("ope", "--logs", str(tmp_path / "f"), "--policy", "rule")
    assert out.returncode == 2
    assert "pass --policy logged" in out.stderr
    out = _cli("ope", "--logs", str(tmp_path / "a"), "--policy", "logged")
    assert out.returncode == 2
    assert "carries no target probabilities" in out.stderr


def test_features_rows_are_checked_too(logs, tmp_path):
    rows = [
        {
            "conversation": 1,
            "turn": 0,
            "features": "[0.1, 0.2]",
            "action": 1,
            "propensity": 0.5,
            "reward": 1.0,
            "target_probs": "[0.5, 0.5]",
        },
        {
            "conversation": 1,
            "turn": 1,
            "features": "[0.1]",
            "action": 0,
            "propensity": 0.5,
            "reward": 1.0,
            "target_probs": "[0.5, 0.5]",
        },
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "f.csv", index=False)
    with pytest.raises(
        LogImportError, match=r"f\.csv:3:features: 1 entries where earlier rows have 2"
    ):
        import_logs(tmp_path / "f.csv", tmp_path / "run")
    rows[1]["features"] = "[0.3, 0.4]"
    rows[1]["target_probs"] = "[0.9, 0.9]"
    pd.DataFrame(rows).to_csv(tmp_path / "f.csv", index=False)
    with pytest.raises(LogImportError, match=r"f\.csv:3:target_probs: must be >= 0 and sum to 1"):
        import_logs(tmp_path / "f.csv", tmp_path / "run")


def test_ope_warns_on_fewer_than_30_conversations_and_zero_width_intervals(logs, tmp_path):
    df = logs[0]
    df[df.conversation == "c0"].to_csv(tmp_path / "one.csv", index=False)
    import_logs(tmp_path / "one.csv", tmp_path / "run", scenario="restaurant")
    text = run_ope(OPEArgs(logs=str(tmp_path / "run"), policy="rule", fqe=False, bootstrap=20))
    warnings = [line for line in text.splitlines() if line.strip().startswith("warning:")]
    assert any("only 1 conversations in the logs (fewer than 30)" in w for w in warnings)
    assert any(w.strip().startswith("warning: zero-width interval (IS, WIS") for w in warnings)
    df[df.conversation.isin([f"c{i}" for i in range(40)])].to_csv(
        tmp_path / "many.csv", index=False
    )
    import_logs(tmp_path / "many.csv", tmp_path / "run2", scenario="restaurant")
    text = run_ope(OPEArgs(logs=str(tmp_path / "run2"), policy="rule", fqe=False, bootstrap=50))
    assert "fewer than 30" not in text


@pytest.mark.slow
def test_the_offline_gate_judges_imported_logs_and_refuses_success_without_outcomes(logs, tmp_path):
    df = logs[0]
    df.to_csv(tmp_path / "with.csv", index=False)
    df.drop(columns="outcome").to_csv(tmp_path / "without.csv", index=False)
    import_logs(tmp_path / "with.csv", tmp_path / "w", scenario="restaurant")
    import_logs(tmp_path / "without.csv", tmp_path / "wo", scenario="restaurant")
    gate = ["regress", "--baseline", "rule", "--candidate", "rule:early-handover"]
    gate += ["--scenario", "restaurant", "--bootstrap", "200"]
    out = _cli(*gate, "--logs", str(tmp_path / "w"))
    assert out.returncode in (0, 1), out.stderr
    success = next(line for line in out.stdout.splitlines() if line.strip().startswith("success "))
    assert "0.0%      0.0%" not in success  # the logged outcomes, not zeros
    out = _cli(*gate, "--logs", str(tmp_path / "wo"))
    assert out.returncode == 2
    assert "60 of 60 conversations have no recorded outcome" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    out = _cli(*gate, "--logs", str(tmp_path / "wo"), "--metric", "reward")
    assert out.returncode in (0, 1), out.stderr
    assert not any(line.strip().startswith("success ") for line in out.stdout.splitlines())


def test_an_outcome_before_the_last_row_must_match_the_conversations_end(logs, tmp_path):
    df = logs[0].copy()
    df["outcome"] = df["outcome"].astype(object)
    df.loc[0, "outcome"] = (
        "hangup" if df.loc[df.conversation == "c0", "outcome"].iloc[-1] != "hangup" else "success"
    )
    df.to_csv(tmp_path / "log.csv", index=False)
    with pytest.raises(
        LogImportError, match=r"log\.csv:2:outcome: '\w+' on turn 0, but conversation 'c0' ends"
    ):
        import_logs(tmp_path / "log.csv", tmp_path / "run", scenario="restaurant")
