"""Checkpoints: round trip, and refusal of corrupted, truncated, foreign and tampered ones."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dialog_rl.cli import main
from dialog_rl.env import DialogueEnv
from dialog_rl.policies import make_policy
from dialog_rl.policies.checkpoint import (
    META,
    TENSORS,
    CheckpointError,
    content_hash,
    load_policy,
    read_checkpoint,
    save_checkpoint,
)
from dialog_rl.rollout.runner import run_episode
from dialog_rl.train import TrainConfig, train

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def env(restaurant):
    return DialogueEnv(restaurant, noise=0.15)


@pytest.fixture(scope="module")
def learner(restaurant):
    config = TrainConfig("thompson", dialogues=150, noise=0.15, eval_episodes=5)
    return train(restaurant, config).learner


@pytest.fixture
def ckpt(tmp_path, learner, restaurant, env):
    return save_checkpoint(tmp_path / "ckpt", learner, restaurant, env.spec_obs, seed=0)


@pytest.fixture(scope="module")
def states(env):
    from dialog_rl.policies import RulePolicy

    rule = RulePolicy(env.domain, env.spec_obs, epsilon=0.3)
    recs = [run_episode(env, rule, i, seed=9, record=True) for i in range(10)]
    return [(o, m) for r in recs for o, m in zip(r.turns["obs"], r.turns["mask"])]


def test_loaded_policy_makes_the_same_decisions(ckpt, learner, restaurant, env, states):
    loaded = load_policy(ckpt, restaurant, env.spec_obs)
    assert type(loaded) is type(learner)
    assert loaded.config() == learner.config()
    for obs, mask in states:
        assert np.array_equal(loaded.distribution(obs, mask)[1], learner.distribution(obs, mask)[1])


def test_make_policy_loads_a_run_directorys_final_policy(tmp_path, learner, restaurant, env):
    save_checkpoint(tmp_path / "run" / "final", learner, restaurant, env.spec_obs, seed=0)
    policy = make_policy(str(tmp_path / "run"), restaurant, env.spec_obs)
    assert policy.algo == "thompson"


def test_saving_twice_writes_identical_bytes(tmp_path, learner, restaurant, env):
    a = save_checkpoint(tmp_path / "a", learner, restaurant, env.spec_obs, seed=0)
    b = save_checkpoint(tmp_path / "b", learner, restaurant, env.spec_obs, seed=0)
    for name in (TENSORS, META):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_saving_over_a_checkpoint_replaces_it_whole(tmp_path, learner, restaurant, env):
    path = save_checkpoint(tmp_path / "c", learner, restaurant, env.spec_obs, seed=0)
    save_checkpoint(path, learner, restaurant, env.spec_obs, seed=7)
    assert read_checkpoint(path).meta["seed"] == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]  # no temporaries left


def test_metadata_records_what_the_issue_asks_for(ckpt, restaurant):
    meta = json.loads((ckpt / META).read_text())
    assert meta["algorithm"] == "thompson"
    assert meta["hyperparameters"]["v"] == 0.25
    assert meta["scenario"] == {"name": "restaurant", "hash": restaurant.content_hash}
    assert len(meta["observation_spec"]["features"]) > 0
    assert meta["observation_spec"]["actions"] == list(restaurant.act_names)
    assert meta["dialog_rl_version"]
    assert meta["content_hash"] == content_hash((ckpt / TENSORS).read_bytes(), meta)


# -- refusals ----------------------------------------------------------------------------------


def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_corrupted_tensor_file_is_refused(ckpt, restaurant, env):
    size = (ckpt / TENSORS).stat().st_size
    _flip_byte(ckpt / TENSORS, size // 2)
    with pytest.raises(CheckpointError, match=r"sha256 does not match.*corrupted"):
        load_policy(ckpt, restaurant, env.spec_obs)


def test_truncated_tensor_file_is_refused(ckpt, restaurant, env):
    data = (ckpt / TENSORS).read_bytes()
    (ckpt / TENSORS).write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="the file is truncated"):
        load_policy(ckpt, restaurant, env.spec_obs)


def test_truncated_metadata_is_refused(ckpt, restaurant, env):
    text = (ckpt / META).read_text()
    (ckpt / META).write_text(text[: len(text) // 2])
    with pytest.raises(CheckpointError, match=r"not valid JSON.*truncated or corrupted"):
        load_policy(ckpt, restaurant, env.spec_obs)


def test_missing_tensor_file_is_refused(ckpt, restaurant, env):
    (ckpt / TENSORS).unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_policy(ckpt, restaurant, env.spec_obs)


def test_checkpoint_for_another_scenario_is_refused(ckpt, domains):
    other = domains["order_support"]
    spec = DialogueEnv(other).spec_obs
    with pytest.raises(
        CheckpointError, match=r"made for scenario 'restaurant'.*not for 'order_sup"
    ):
        load_policy(ckpt, other, spec)


def test_checkpoint_for_an_edited_scenario_is_refused(ckpt, tmp_path, restaurant):
    from dialog_rl.domain import load_domain

    for f in ("restaurant.yaml", "restaurant_kb.csv"):
        shutil.copy(ROOT / "scenarios" / f, tmp_path / f)
    yaml = tmp_path / "restaurant.yaml"
    yaml.write_text(yaml.read_text().replace("success: 20", "success: 25", 1))
    edited = load_domain(str(yaml))
    assert edited.content_hash != restaurant.content_hash
    with pytest.raises(CheckpointError, match="made for scenario"):
        load_policy(ckpt, edited, DialogueEnv(edited).spec_obs)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda m: m["hyperparameters"].update(v=5.0), "content hash mismatch.*tampered"),
        (lambda m: m.update(seed=1), "content hash mismatch.*tampered"),
        (lambda m: m["learner_state"].update(episodes=0), "content hash mismatch"),
        (lambda m: m.update(content_hash="0" * 64), "content hash mismatch"),
        (lambda m: m.pop("content_hash"), "'content_hash' is missing"),
        (lambda m: m["tensors"].update(sha256="0" * 64), "sha256 does not match"),
        (lambda m: m.update(format="something-else"), "not a dialog-rl checkpoint"),
        (lambda m: m.update(format_version=99), "format version 99"),
    ],
)
def test_tampered_metadata_is_refused(ckpt, restaurant, env, edit, match):
    meta = json.loads((ckpt / META).read_text())
    edit(meta)
    (ckpt / META).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=match):
        load_policy(ckpt, restaurant, env.spec_obs)


def _rehash(ckpt: Path, meta: dict) -> None:
    """What a forger who knows the format does: recompute every hash."""
    data = (ckpt / TENSORS).read_bytes()
    meta["tensors"].update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    meta["content_hash"] = content_hash(data, meta)
    (ckpt / META).write_text(json.dumps(meta))


def test_forged_metadata_that_does_not_fit_the_tensors_is_still_refused(ckpt, restaurant, env):
    meta = json.loads((ckpt / META).read_text())
    meta["algorithm"] = "linucb"  # thompson's hyperparameters do not build a LinUCB
    _rehash(ckpt, meta)
    with pytest.raises(CheckpointError, match="cannot rebuild the learner"):
        load_policy(ckpt, restaurant, env.spec_obs)


class _Payload:
    """Unpickling this creates a marker file: proof that something was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _payload(marker: Path, protocol: int) -> bytes:
    data = pickle.dumps(_Payload(marker), protocol=protocol)
    assert not marker.exists()
    return data


@pytest.mark.parametrize("protocol", [0, pickle.HIGHEST_PROTOCOL])
@pytest.mark.parametrize("where", [TENSORS, META, "forged", "policy.pt", "model.pkl"])
def test_pickle_payload_is_refused_without_being_executed(
    ckpt, tmp_path, restaurant, env, where, protocol
):
    marker = tmp_path / "pwned"
    payload = _payload(marker, protocol)
    # the payload really does run when unpickled (so the assertion below can fail)
    pickle.loads(payload)
    assert marker.exists()
    marker.unlink()
    if where in (TENSORS, META):
        (ckpt / where).write_bytes(payload)
        target = ckpt
    elif where == "forged":  # the tensor file is the payload and every hash matches it
        (ckpt / TENSORS).write_bytes(payload)
        _rehash(ckpt, json.loads((ckpt / META).read_text()))
        target = ckpt
    else:  # a pickled model handed over in place of a run directory
        target = tmp_path / where
        target.write_bytes(payload)
    with pytest.raises(CheckpointError):
        load_policy(target, restaurant, env.spec_obs)
    assert not marker.exists()


def test_torch_save_file_in_place_of_the_tensors_is_refused_without_unpickling(
    ckpt, tmp_path, restaurant, env
):
    import torch

    marker = tmp_path / "pwned"
    torch.save({"evil": _Payload(marker)}, ckpt / TENSORS)
    _rehash(ckpt, json.loads((ckpt / META).read_text()))
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        load_policy(ckpt, restaurant, env.spec_obs)
    assert not marker.exists()


def test_unfinished_run_directory_points_to_resume(tmp_path, restaurant, env):
    (tmp_path / "run" / "checkpoints" / "ep-000000100").mkdir(parents=True)
    with pytest.raises(CheckpointError, match=r"training has not finished.*--resume"):
        load_policy(tmp_path / "run", restaurant, env.spec_obs)


def test_directory_that_is_not_a_checkpoint_is_refused(tmp_path, restaurant, env):
    with pytest.raises(CheckpointError, match="not a dialog-rl run or checkpoint"):
        load_policy(tmp_path, restaurant, env.spec_obs)


def test_cli_reports_a_bad_checkpoint_in_one_line_with_exit_code_2(ckpt, capsys):
    _flip_byte(ckpt / TENSORS, 100)
    code = main(
        [
            "simulate",
            "--scenario",
            str(ROOT / "scenarios" / "restaurant.yaml"),
            "--policy",
            str(ckpt),
            "--episodes",
            "3",
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("dialog-rl: error: ") and "corrupted" in err


def test_loading_a_bandit_checkpoint_does_not_import_torch(ckpt):
    code = (
        "import sys\n"
        "from dialog_rl.domain import load_domain\n"
        "from dialog_rl.env import DialogueEnv\n"
        "from dialog_rl.policies.checkpoint import load_policy\n"
        "import dialog_rl.train\n"
        f"d = load_domain({str(ROOT / 'scenarios' / 'restaurant.yaml')!r})\n"
        f"p = load_policy({str(ckpt)!r}, d, DialogueEnv(d).spec_obs)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
