"""What a TUI session writes: transcripts, Parquet logs with ``overridden``, demonstrations."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dialog_rl.rollout.logs import log_schema, read_log
from dialog_rl.tui.export import save_all, transcript, transcript_markdown


def overridden_session(make_session, restaurant):
    s = make_session(seed=0)
    s.step()
    s.step(restaurant.action_index("request(food)"))
    while s.pending is not None:
        s.step()
    s.new_conversation()
    s.step()
    return s


def test_save_writes_session_transcripts_log_and_demos(make_session, restaurant, tmp_path):
    s = overridden_session(make_session, restaurant)
    saved = save_all(s, tmp_path / "out")
    got = {p.name for p in saved.files}
    assert got == {
        "session.json",
        "conversation-0-1.json",
        "conversation-0-1.md",
        "log",
        "demos.parquet",
    }
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_log_has_the_batch_schema_with_overridden_turns_flagged(make_session, restaurant, tmp_path):
    s = overridden_session(make_session, restaurant)
    save_all(s, tmp_path / "out")
    table = read_log(tmp_path / "out" / "log")
    want = log_schema(s.env.spec_obs.size, restaurant.n_actions)
    assert table.schema.remove_metadata() == want
    rows = table.to_pylist()
    assert [r["overridden"] for r in rows if r["episode"] == 0] == [
        t.overridden for t in s.replay(s.history[0]).turns
    ]
    assert sum(r["overridden"] for r in rows) == 1
    assert rows[-1]["outcome"] == "unfinished" and not rows[-1]["success"]
    assert table.schema.metadata[b"dialog_rl.source"] == b"tui"


def test_batch_logs_default_overridden_to_false(restaurant, tmp_path):
    from dialog_rl.env import DialogueEnv
    from dialog_rl.policies import RulePolicy
    from dialog_rl.rollout.logs import EpisodeLogWriter
    from dialog_rl.rollout.runner import run_episode

    env = DialogueEnv(restaurant, text=True)
    rec = run_episode(env, RulePolicy(restaurant, env.spec_obs), 0, 0, record=True)
    writer = EpisodeLogWriter(tmp_path / "log", env.spec_obs.size, restaurant.n_actions, {})
    writer.write(rec)
    writer.close()
    assert set(read_log(tmp_path / "log").column("overridden").to_pylist()) == {False}


def test_demos_file_holds_only_the_overrides(make_session, restaurant, tmp_path):
    s = overridden_session(make_session, restaurant)
    save_all(s, tmp_path / "out")
    rows = pq.read_table(tmp_path / "out" / "demos.parquet").to_pylist()
    assert [(r["action_name"], r["overridden"], r["propensity"]) for r in rows] == [
        ("request(food)", True, 1.0)
    ]
    assert rows[0]["obs"] == pytest.approx(s.demos[0].obs.tolist())


def test_transcripts_mark_the_override_and_the_outcome(make_session, restaurant):
    s = make_session(seed=0)
    choice = restaurant.act_names[s.pending.action]
    pick = "request(food)" if choice != "request(food)" else "request(area)"
    s.step(restaurant.action_index(pick))
    while s.pending is not None:
        s.step()
    data = transcript(s)
    assert data["turns"][0]["overridden"] and data["turns"][0]["policy_action"] == choice
    assert data["turns"][0]["action"] == pick
    assert data["outcome"]["outcome"] == s.outcome()["outcome"]
    json.dumps(data)
    md = transcript_markdown(s)
    assert f"*(overridden; the policy chose `{choice}`)*" in md
    assert f"**Outcome:** {s.outcome()['outcome']}" in md


def test_save_into_an_unwritable_place_raises_oserror_and_leaves_nothing(make_session, tmp_path):
    s = make_session()
    s.step()
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OSError):
        save_all(s, blocker / "out")
    assert blocker.read_text() == "not a directory"


def test_save_on_a_read_only_filesystem_raises_oserror(make_session, tmp_path, monkeypatch):
    # Tests run as root, where chmod does not stop writes: simulate EROFS where files are made.
    s = make_session()
    s.step()

    def refuse(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "write_text", refuse)
    with pytest.raises(OSError, match="Read-only"):
        save_all(s, tmp_path / "out")
