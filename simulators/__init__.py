"""The customer side: user simulator, noise channel, NLG and NLU, returning customers."""
