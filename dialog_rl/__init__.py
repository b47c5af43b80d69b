"""dialog-rl: simulate, train and evaluate the decision policies of conversational agents."""

__version__ = "0.1.0"

import sys as _sys

if "gymnasium" in _sys.modules:
    # Gymnasium 1.x loads no plugins: `gymnasium.make("dialog_rl:dialog_rl/Restaurant-v0")`
    # imports this package to register the ids. Only when Gymnasium is already loaded, so
    # `import dialog_rl` alone (and `dialog-rl --help`) stays light.
    from dialog_rl.gymnasium_ids import register_envs as _register_envs

    _register_envs()
