"""`dialog-rl simulate`: metrics, Parquet logs and summaries, determinism."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from dialog_rl.cli import main
from dialog_rl.rollout.logs import TEXT_COLUMNS, read_log

SCENARIO = "scenarios/restaurant.yaml"


def _simulate(out, *extra):
    args = ["simulate", "--scenario", SCENARIO, "--episodes", "300", "--no-progress"]
    assert main([*args, "--out", str(out), *extra]) == 0


def test_same_seed_gives_byte_identical_log_and_summary(tmp_path):
    _simulate(tmp_path / "a", "--seed", "3", "--noise", "0.15")
    _simulate(tmp_path / "b", "--seed", "3", "--noise", "0.15")
    for rel in ("log/part-00000.parquet", "summary.json"):
        a = (tmp_path / "a" / rel).read_bytes()
        b = (tmp_path / "b" / rel).read_bytes()
        if rel == "summary.json":  # the command line names the --out directory
            a = a.replace(b"/a", b"/X")
            b = b.replace(b"/b", b"/X")
        assert a == b, rel


def test_different_seed_gives_different_log(tmp_path):
    _simulate(tmp_path / "a", "--seed", "1")
    _simulate(tmp_path / "b", "--seed", "2")
    a = read_log(tmp_path / "a")
    b = read_log(tmp_path / "b")
    assert a.column("observed_acts").to_pylist() != b.column("observed_acts").to_pylist()


def test_log_has_one_row_per_turn_with_propensity_mask_and_texts(tmp_path):
    _simulate(tmp_path / "run", "--seed", "0", "--policy", "random", "--text")
    table = read_log(tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    rows = table.to_pylist()
    assert len(rows) == sum(1 for _ in rows)
    episodes = {r["episode"] for r in rows}
    assert episodes == set(range(300))
    for r in rows[:200]:
        assert 0 < r["propensity"] <= 1
        assert r["mask"][r["action"]]
        assert r["propensity"] == pytest.approx(1 / sum(r["mask"]))
        assert r["system_text"] and r["user_text"]
    ends = [r for r in rows if r["terminated"] or r["truncated"]]
    assert len(ends) == 300
    assert summary["scenario_hash"] and summary["seed"] == 0
    assert summary["command"][:2] == ["dialog-rl", "simulate"]
    assert summary["metrics"]["episodes"] == 300
    meta = pq.read_schema(tmp_path / "run" / "log" / "part-00000.parquet").metadata
    assert meta[b"dialog_rl.scenario_hash"].decode() == summary["scenario_hash"]


def test_text_columns_are_null_unless_asked_for_and_the_rest_is_the_same(tmp_path):
    _simulate(tmp_path / "acts", "--seed", "4")
    _simulate(tmp_path / "text", "--seed", "4", "--text")
    acts, text = read_log(tmp_path / "acts"), read_log(tmp_path / "text")
    assert acts.schema == text.schema, "one schema, with or without utterances"
    for name in TEXT_COLUMNS:
        assert acts.column(name).null_count == acts.num_rows, name
        assert text.column(name).null_count == 0, name
    assert acts.drop_columns(list(TEXT_COLUMNS)).equals(text.drop_columns(list(TEXT_COLUMNS)))


def test_text_without_out_exits_2(capsys):
    args = ["simulate", "--scenario", SCENARIO, "--episodes", "5", "--text", "--no-progress"]
    assert main(args) == 2
    assert "--text logs the utterances: it needs --out" in capsys.readouterr().err


def test_existing_out_is_refused_without_force(tmp_path, capsys):
    _simulate(tmp_path / "run")
    args = ["simulate", "--scenario", SCENARIO, "--episodes", "5", "--out", str(tmp_path / "run")]
    assert main([*args, "--no-progress"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main([*args, "--no-progress", "--force"]) == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--episodes", "0"], "expected a number >= 1"),
        (["--noise", "1.5"], "between 0 and 1"),
        (["--policy", "runs/does-not-exist"], "does-not-exist"),
    ],
)
def test_bad_arguments_exit_2(capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        code = main(["simulate", "--scenario", SCENARIO, "--no-progress", *args])
        raise SystemExit(code)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_rule_beats_random_and_noise_hurts(capsys):
    def success(policy, noise):
        args = ["simulate", "--scenario", SCENARIO, "--episodes", "600", "--no-progress"]
        assert main([*args, "--policy", policy, "--noise", noise]) == 0
        out = capsys.readouterr().out
        return float(out.split("success")[1].split("%")[0])

    assert success("rule", "0.0") > success("rule", "0.3") > success("random", "0.0") + 40
