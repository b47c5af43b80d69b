"""Online training: the loop, its callbacks, demonstrations and run directories."""

from dialog_rl.train.callbacks import Callback, CallbackList, ProgressBar, StopAfter
from dialog_rl.train.demos import DemoError, Demonstrations, load_demos
from dialog_rl.train.loop import (
    EVAL_OFFSET,
    EVAL_SEED,
    LoopState,
    TrainConfig,
    TrainResult,
    evaluate,
    evaluation_seeds,
    play_episode,
    train,
)
from dialog_rl.train.rundir import RunDirectory, TrainError

__all__ = [
    "EVAL_OFFSET",
    "EVAL_SEED",
    "Callback",
    "CallbackList",
    "DemoError",
    "Demonstrations",
    "LoopState",
    "ProgressBar",
    "RunDirectory",
    "StopAfter",
    "TrainConfig",
    "TrainError",
    "TrainResult",
    "evaluate",
    "evaluation_seeds",
    "load_demos",
    "play_episode",
    "train",
]
