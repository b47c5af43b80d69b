"""The session model: replay, rewind and fork, overrides as demonstrations, save and reopen."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dialog_rl.env import DialogueEnv
from dialog_rl.policies import RulePolicy
from dialog_rl.rollout.runner import run_episode
from dialog_rl.tui.session import Session, SessionError


def play_out(session: Session) -> None:
    while session.pending is not None:
        session.step()


def names(session: Session) -> list[str]:
    return [session.domain.act_names[t.action] for t in session.turns]


@pytest.mark.parametrize("seed", [0, 7])
def test_conversation_i_is_episode_i_of_a_greedy_batch_run(make_session, restaurant, seed):
    s = make_session(seed=seed)
    s.new_conversation()  # episode 1
    play_out(s)
    env = DialogueEnv(restaurant, text=True)
    rec = run_episode(env, s.policy, 1, seed, explore=False, record=True)
    assert names(s) == rec.turns["action_name"]
    assert [t.reply_text for t in s.turns] == rec.turns["reply_text"]
    assert s.outcome() == rec.outcome


def test_rewind_replays_the_same_conversation_word_for_word(make_session):
    s = make_session(seed=3)
    play_out(s)
    before = [(t.system_text, t.reply_text, t.action) for t in s.turns]
    k = len(before) - 1  # back to before the last turn
    assert k >= 1
    s.rewind(k)
    assert len(s.turns) == k and s.pending is not None
    play_out(s)
    assert [(t.system_text, t.reply_text, t.action) for t in s.turns] == before


def other_action(session: Session) -> int:
    """An allowed action the policy would not take here."""
    pending = session.pending
    return next(a for a in range(len(pending.mask)) if pending.mask[a] and a != pending.action)


def test_override_forks_keeps_the_prefix_and_records_a_demonstration(make_session):
    s = make_session(seed=0)
    play_out(s)
    original = names(s)
    s.rewind(1)
    policy_choice = s.pending.action
    pick = other_action(s)
    s.step(pick)
    assert names(s)[:1] == original[:1]
    assert s.turns[1].overridden and s.turns[1].propensity == 1.0
    assert s.turns[1].policy_action == policy_choice
    assert not s.turns[0].overridden
    assert len(s.demos) == 1
    demo = s.demos[0]
    assert (demo.action, demo.policy_action) == (pick, policy_choice)
    assert demo.obs is not None and demo.mask[pick] == 1


def test_overriding_the_same_state_twice_keeps_one_demonstration(make_session, restaurant):
    s = make_session()
    s.step(restaurant.action_index("request(food)"))
    s.rewind(0)
    s.step(restaurant.action_index("request(pricerange)"))
    assert len(s.demos) == 1
    assert s.demos[0].action == restaurant.action_index("request(pricerange)")


def test_masked_action_cannot_be_taken(make_session, restaurant):
    s = make_session()
    s.step()
    with pytest.raises(ValueError, match="greet is masked: greet only opens"):
        s.step(restaurant.action_index("greet"))


def test_new_conversation_moves_to_the_next_customer_and_same_seed_repeats(make_session):
    s = make_session(seed=0)
    first = s.customer_words[2]
    s.step()
    s.new_conversation(same_seed=True)
    assert s.episode == 0 and not s.turns and s.customer_words[2] == first
    s.new_conversation()
    assert s.episode == 1 and s.customer_words[2] != first
    assert len(s.history) == 1  # the conversation with a turn in it, not the empty restart


def test_noise_change_keeps_the_customer_and_changes_what_is_heard(make_session):
    s = make_session(seed=5)
    goal = s.env.user.goal.describe(s.domain)
    s.set_noise(1.0)
    assert s.noise == 1.0 and s.env.user.goal.describe(s.domain) == goal
    said, heard, _ = s.customer_words
    assert [a[:3] for a in heard] != [tuple(a) for a in said]


def test_save_and_reopen_restores_conversations_and_demonstrations(
    make_session, restaurant, tmp_path
):
    s = make_session(seed=2)
    s.step()
    s.step(restaurant.action_index("request(food)"))
    play_out(s)
    s.new_conversation()
    s.step()
    path = s.save(tmp_path / "session.json")
    again = Session.load(path, restaurant, RulePolicy(restaurant, s.env.spec_obs))
    assert again.to_dict() == s.to_dict()
    assert [t.system_text for t in again.turns] == [t.system_text for t in s.turns]
    assert again.demos[0].obs.tolist() == s.demos[0].obs.tolist()
    assert not again.dirty


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.update(version=9), "version: expected 1"),
        (lambda d: d.update(scenario_hash="abc"), "scenario_hash: the session was made"),
        (lambda d: d["current"].pop("noise"), "current.noise: missing"),
        (lambda d: d["current"].update(noise=3), "current.noise: expected 0-1"),
        (
            lambda d: d["current"]["choices"][0].update(action="dance"),
            "current.choices\\[0\\].action: no action 'dance'",
        ),
        (
            lambda d: d["current"]["choices"][0].update(overridden="yes"),
            "overridden: expected bool",
        ),
    ],
)
def test_bad_session_file_names_the_field(make_session, restaurant, tmp_path, edit, message):
    s = make_session()
    s.step()
    data = s.to_dict()
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SessionError, match=message):
        Session.load(path, restaurant, s.policy)


def test_session_file_that_is_not_json_names_the_line(make_session, restaurant, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{\n  "version": 1,\n  oops\n}')
    with pytest.raises(SessionError, match=r"bad.json:3: not valid JSON"):
        Session.load(path, restaurant, make_session().policy)


def test_customer_mode_parses_typed_words_and_ends_on_goodbye(make_session):
    s = make_session(mode="customer")
    assert s.awaiting_opening and s.pending is None
    s.open("I want a cheap restaurant in the north")
    heard = s.customer_words[1]
    assert any(a[0] == 1 for a in heard)  # at least one inform understood
    assert s.pending is not None
    s.step(text="Yes.")
    s.step(text="Thank you, goodbye.")
    assert s.finished and s.outcome()["outcome"] == "success"


def test_customer_mode_replays_typed_conversations(make_session, tmp_path):
    s = make_session(mode="customer")
    s.open("I'd like italian food")
    s.step(text="In the centre please.")
    path = s.save(tmp_path / "session.json")
    again = Session.load(path, s.domain, s.policy)
    assert again.mode == "customer"
    assert [t.reply_text for t in again.turns] == ["In the centre please."]
    assert [t.system_text for t in again.turns] == [t.system_text for t in s.turns]


def test_session_model_does_not_import_textual():
    code = (
        "import dialog_rl.tui.session, dialog_rl.tui.export, dialog_rl.tui.teach, "
        "dialog_rl.tui.launch, dialog_rl.tui.render\nimport sys\n"
        "print('textual' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
