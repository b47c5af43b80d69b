"""Golden conversations: record, replay, and a readable diff at the first changed turn."""

from __future__ import annotations

import json
import re

import pytest

from dialog_rl.cli import main
from dialog_rl.regress.golden import GoldenConfig, GoldenError, check, format_check, load, record

SCENARIO = "scenarios/restaurant.yaml"


@pytest.fixture
def golden(tmp_path):
    path = tmp_path / "rule.json"
    args = ["regress", "record", "--scenario", SCENARIO, "--policy", "rule", "--seeds", "0-1"]
    assert main([*args, "--episodes", "5", "--noise", "0.3", "--out", str(path)]) == 0
    return path


def test_recording_twice_gives_byte_identical_files(tmp_path, golden):
    again = tmp_path / "again.json"
    args = ["regress", "record", "--scenario", SCENARIO, "--policy", "rule", "--seeds", "0-1"]
    assert main([*args, "--episodes", "5", "--noise", "0.3", "--out", str(again)]) == 0
    assert again.read_bytes() == golden.read_bytes()
    doc = json.loads(golden.read_text())
    assert len(doc["conversations"]) == 10
    assert {c["seed"] for c in doc["conversations"]} == {0, 1}


def test_check_of_an_unchanged_policy_passes(golden, capsys):
    assert main(["regress", "check", str(golden)]) == 0
    assert "all 10 conversations match their recording" in capsys.readouterr().out


def test_check_shows_the_first_changed_turn_as_a_readable_diff(golden, capsys):
    assert main(["regress", "check", str(golden), "--policy", "rule:noconfirm"]) == 1
    out = capsys.readouterr().out
    assert "conversations changed" in out
    assert "note: replayed with policy 'rule:noconfirm' (recorded with 'rule')" in out
    minus = [line for line in out.splitlines() if line.startswith("- ")]
    plus = [line for line in out.splitlines() if line.startswith("+ ")]
    assert minus and plus
    assert "AGENT  confirm(" in minus[0]  # the recording confirmed where the new policy does not
    assert "AGENT  confirm(" not in plus[0]
    assert "\033[" not in out  # no colour codes when not writing to a terminal


def test_the_diff_gives_context_and_both_endings(golden):
    result = check(golden, policy="rule:noconfirm")
    change = result.changes[0]
    text = format_check(result, color=True)
    assert f"first change at turn {change.turn}" in text
    assert "recorded: success after" in text and "now:" in text
    assert "\033[31m- " in text and "\033[32m+ " in text
    if change.turn > 0:
        assert f"turn {change.turn - 1:>2}  USER" in text  # the turn before, for context


def test_a_changed_scenario_is_noted(tmp_path, golden):
    doc = json.loads(golden.read_text())
    doc["scenario_hash"] = "0" * 64
    golden.write_text(json.dumps(doc))
    assert any("scenario changed since recording" in n for n in check(golden).notes)


def test_an_edited_transcript_is_reported_at_its_turn(golden):
    doc = json.loads(golden.read_text())
    doc["conversations"][3]["turns"][1]["agent_text"] = "Something else entirely."
    golden.write_text(json.dumps(doc))
    result = check(golden)
    assert [(c.seed, c.episode, c.turn) for c in result.changes] == [(0, 3, 1)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"format": "other"}', "format: not a dialog-rl golden file"),
        (
            '{"format": "dialog-rl-golden", "version": 1, "scenario": "s", "policy": "rule", '
            '"conversations": [{"seed": 0, "episode": 0, "turns": [{}], "outcome": {}}]}',
            "conversations[0].turns[0]: needs the fields",
        ),
    ],
)
def test_a_broken_golden_file_is_refused_naming_the_field(tmp_path, capsys, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(GoldenError, match=re.escape(message)):
        load(path)
    assert main(["regress", "check", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_record_refuses_to_overwrite_without_force(golden, capsys):
    args = ["regress", "record", "--scenario", SCENARIO, "--policy", "rule", "--out", str(golden)]
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err
    assert main([*args, "--force", "--episodes", "1"]) == 0


def test_record_api_matches_the_cli(golden):
    doc = record(GoldenConfig(SCENARIO, "rule", seeds=(0, 1), episodes=5, noise=0.3))
    assert doc["conversations"] == json.loads(golden.read_text())["conversations"]


def test_a_changed_ending_is_shown_after_the_last_turn(golden):
    doc = json.loads(golden.read_text())
    conv = doc["conversations"][0]
    conv["last_user"] = "Whatever."
    golden.write_text(json.dumps(doc))
    result = check(golden)
    assert [c.turn for c in result.changes] == [len(conv["turns"])]
    text = format_check(result)
    assert "- end      USER   Whatever." in text and "+ end      USER" in text
