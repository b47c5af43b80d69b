"""gymnasium.make / make_vec know dialog-rl's environments; MaskablePPO's action_masks() hook."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import dialog_rl.env  # registers the ids
from dialog_rl.domain import load_domain
from dialog_rl.env import DialogueEnv, LifetimeEnv
from dialog_rl.env.registration import env_name, register_envs, registered_ids
from dialog_rl.env.vector import DialogueVectorEnv
from dialog_rl.seeding import episode_seed

ROOT = Path(__file__).resolve().parent.parent


def test_one_id_per_shipped_scenario_and_lifetime_ids_only_where_a_scenario_has_lifetime():
    assert registered_ids() == [
        "dialog_rl/Dialogue-v0",
        "dialog_rl/Lifetime-v0",
        "dialog_rl/Cambridge-v0",
        "dialog_rl/OrderSupport-v0",
        "dialog_rl/OrderSupportLifetime-v0",
        "dialog_rl/Restaurant-v0",
        "dialog_rl/RestaurantBooking-v0",
        "dialog_rl/RestaurantCalibrated-v0",
        "dialog_rl/Shopping-v0",
        "dialog_rl/ShoppingLifetime-v0",
    ]
    assert all(i in gym.envs.registry for i in registered_ids())
    register_envs()  # registering twice is harmless
    assert env_name("order_support") == "OrderSupport"


@pytest.mark.parametrize("name", ["restaurant", "order_support", "shopping", "cambridge"])
def test_a_scenario_id_plays_the_same_conversation_as_the_env_built_by_hand(name):
    env = gym.make(f"dialog_rl/{env_name(name)}-v0", noise=0.2)
    by_hand = DialogueEnv(load_domain(str(ROOT / "scenarios" / f"{name}.yaml")), noise=0.2)
    obs, info = env.reset(seed=7)
    ref, _ = by_hand.reset(seed=7)
    np.testing.assert_array_equal(obs, ref)
    for _ in range(4):
        action = int(np.flatnonzero(info["action_mask"])[0])
        obs, reward, term, trunc, info = env.step(action)
        ref, ref_reward, *_ = by_hand.step(action)
        np.testing.assert_array_equal(obs, ref)
        assert reward == ref_reward
        if term or trunc:
            break


def test_the_generic_id_takes_a_path_or_a_name_and_the_env_options():
    path = str(ROOT / "scenarios" / "shopping.yaml")
    env = gym.make("dialog_rl/Dialogue-v0", scenario=path, noise=0.3, max_turns=5)
    assert env.unwrapped.noise == 0.3
    assert env.unwrapped.max_turns == 5
    env = gym.make("dialog_rl/Dialogue-v0", scenario="restaurant", noise=0.15)
    assert env.unwrapped.domain.name == "restaurant"
    with pytest.raises(ValueError, match="pass scenario="):
        gym.make("dialog_rl/Dialogue-v0")


def test_lifetime_ids_make_the_lifetime_env():
    env = gym.make("dialog_rl/ShoppingLifetime-v0", noise=0.1)
    assert isinstance(env.unwrapped, LifetimeEnv)
    env = gym.make("dialog_rl/Lifetime-v0", scenario="order_support")
    assert env.unwrapped.domain.name == "order_support"
    with pytest.raises(ValueError, match="no `lifetime` section"):
        gym.make("dialog_rl/Lifetime-v0", scenario="restaurant")


def test_the_envs_pass_gymnasiums_env_checker():
    check_env(gym.make("dialog_rl/Restaurant-v0").unwrapped, skip_render_check=True)
    check_env(gym.make("dialog_rl/ShoppingLifetime-v0").unwrapped, skip_render_check=True)


def test_make_vec_builds_the_batched_vector_env_and_sync_for_lifetimes():
    vec = gym.make_vec("dialog_rl/Restaurant-v0", num_envs=3, noise=0.1)
    assert isinstance(vec, DialogueVectorEnv)
    assert vec.num_envs == 3 and vec.noise == 0.1
    obs, infos = vec.reset(seed=0)
    assert obs.shape == (3, vec.spec_obs.size)
    assert infos["action_mask"].shape == (3, vec.domain.n_actions)
    # the options reach the vector env: the loop engine plays DialogueEnv's own episodes
    vec = gym.make_vec("dialog_rl/Dialogue-v0", num_envs=2, scenario="shopping", engine="loop")
    assert vec.engine_name == "loop"
    obs, _ = vec.reset(seed=0)
    first, _ = DialogueEnv(vec.domain).reset(seed=episode_seed(0, 1))
    np.testing.assert_array_equal(obs[1], first)
    life = gym.make_vec("dialog_rl/ShoppingLifetime-v0", num_envs=2)
    assert isinstance(life, gym.vector.SyncVectorEnv)
    assert life.reset(seed=0)[0].shape[0] == 2


@pytest.mark.parametrize("env_id", ["dialog_rl/OrderSupport-v0", "dialog_rl/ShoppingLifetime-v0"])
def test_action_masks_is_the_mask_of_the_current_observation(env_id):
    env = gym.make(env_id)
    rng = np.random.default_rng(0)
    _, info = env.reset(seed=3)
    for _ in range(40):
        mask = env.get_wrapper_attr("action_masks")()
        assert mask.dtype == bool
        np.testing.assert_array_equal(mask, info["action_mask"].astype(bool))
        _, _, term, trunc, info = env.step(int(rng.choice(np.flatnonzero(mask))))
        if term or trunc:
            _, info = env.reset()


def test_gymnasium_make_with_the_module_prefix_registers_from_a_bare_interpreter():
    code = (
        "import gymnasium, sys\n"
        "env = gymnasium.make('dialog_rl:dialog_rl/Restaurant-v0', noise=0.15)\n"
        "print(env.reset(seed=0)[0].shape, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "False"


def test_the_pth_line_makes_a_bare_import_gymnasium_know_the_ids():
    """What a wheel install does at start-up (site runs the .pth line), then the plain idiom."""
    line = (ROOT / "dialog_rl_gymnasium.pth").read_text().strip()
    code = (
        f"{line}\n"
        "import sys\n"
        "assert 'gymnasium' not in sys.modules and 'numpy' not in sys.modules\n"
        "import gymnasium\n"
        "env = gymnasium.make('dialog_rl/Restaurant-v0', noise=0.15)\n"
        "print(env.reset(seed=0)[0].shape, 'dialog_rl.env' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["(50,)", "True"]


def test_the_wheel_ships_the_pth_file_the_scenarios_and_the_nlu_confidence_map(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(
        ROOT,
        src,
        symlinks=True,
        ignore=shutil.ignore_patterns(".git", "runs", "build", "*.egg-info", "__pycache__"),
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(src),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    (wheel,) = (tmp_path / "dist").glob("dialog_rl-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "dialog_rl_gymnasium.pth" in names
    assert {f"dialog_rl/scenarios/{p.name}" for p in (ROOT / "scenarios").iterdir()} <= names
    assert "simulators/nlu_confidence.json" in names  # the text channel's NLU loads it


def test_the_declared_entry_point_names_the_registration_function():
    text = (ROOT / "pyproject.toml").read_text()
    assert '[project.entry-points."gymnasium.envs"]' in text
    assert 'dialog_rl = "dialog_rl.env.registration:register_envs"' in text
    assert callable(dialog_rl.env.registration.register_envs)
