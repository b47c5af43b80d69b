"""Teach: a learner is updated from the overrides; the rule policy says it cannot learn."""

from __future__ import annotations

from dialog_rl.tui.teach import teach


def other_action(session) -> int:
    pending = session.pending
    return next(a for a in range(len(pending.mask)) if pending.mask[a] and a != pending.action)


def test_rule_policy_says_it_cannot_learn_and_points_to_train_demos(make_session, restaurant):
    s = make_session(policy="rule")
    choice, pick = s.pending.action, other_action(s)
    s.step(pick)
    report = teach(s)
    assert not report.learned
    assert "cannot learn" in report.message and "dialog-rl train" in report.message
    assert "--demos" in report.message
    names = restaurant.act_names
    assert [(r.wanted, r.before, r.after) for r in report.rows] == [
        (names[pick], names[choice], names[choice])
    ]


def test_teach_without_overrides_asks_for_one(make_session):
    report = teach(make_session())
    assert not report.learned and "override" in report.message


def test_learner_is_updated_and_the_report_shows_the_changed_choice(make_session, restaurant):
    s = make_session(policy="memo")
    choice, pick = s.pending.action, other_action(s)
    s.step(pick)
    report = teach(s)
    assert report.learned and s.policy.calls == 1
    [row] = report.rows
    names = restaurant.act_names
    assert (row.wanted, row.before, row.after) == (names[pick], names[choice], names[pick])
    assert (row.p_wanted_before, row.p_wanted_after) == (0.0, 1.0)
    assert "agrees in 1 of 1" in report.message
    # the transcript still says what the policy chose when it was overridden...
    assert s.turns[0].policy_action == choice
    # ...and the refreshed view shows that the policy now picks the person's action there
    assert s.turns[0].decision.action == pick
    s.rewind(0)
    assert s.pending.action == pick


def test_real_dqn_clones_from_overrides(make_session, restaurant):
    from dialog_rl.env.featurizer import observation_spec
    from dialog_rl.policies.dqn import DQNLearner

    s = make_session()
    s.policy = DQNLearner(restaurant, observation_spec(restaurant), seed=0)
    s.policy_name = "dqn"
    s.refresh()
    pick = other_action(s)
    s.step(pick)
    report = teach(s)
    assert report.learned and report.metrics
    assert report.rows[0].after == restaurant.act_names[pick]
