"""The dialogue environment: the engine (tracker, featurizer, reward) and the Gymnasium API."""

from dialog_rl.env.dialogue_env import DialogueEnv
from dialog_rl.env.featurizer import ObservationSpec, observation_spec
from dialog_rl.env.lifetime_env import LifetimeEnv
from dialog_rl.gymnasium_ids import register_envs

__all__ = ["DialogueEnv", "LifetimeEnv", "ObservationSpec", "observation_spec", "register_envs"]

register_envs()  # gymnasium.make("dialog_rl/Restaurant-v0") once this package is imported
