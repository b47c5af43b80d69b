"""The dialogue environment: tracker, featurizer, reward and the Gymnasium API."""

from dialog_rl.env.dialogue_env import DialogueEnv
from dialog_rl.env.featurizer import Featurizer, ObservationSpec, observation_spec
from dialog_rl.env.lifetime_env import LifetimeEnv
from dialog_rl.env.tracker import Tracker
from dialog_rl.gymnasium_ids import register_envs

__all__ = [
    "DialogueEnv",
    "Featurizer",
    "LifetimeEnv",
    "ObservationSpec",
    "Tracker",
    "observation_spec",
    "register_envs",
]

register_envs()  # gymnasium.make("dialog_rl/Restaurant-v0") once this package is imported
