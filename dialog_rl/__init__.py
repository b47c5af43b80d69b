"""dialog-rl: simulate, train and evaluate the decision policies of conversational agents."""

__version__ = "0.1.0"
