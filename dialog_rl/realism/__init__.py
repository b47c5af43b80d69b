"""The simulator held against real customers: annotated dialogues in MultiWOZ's format.

Modules: ``corpus`` (read and check a corpus file), ``labels`` (MultiWOZ's act labels in a
scenario's terms), ``real_turns`` (the text NLU on real turns: accuracy, confidences) and
``compare`` (simulated against real, side by side: ``dialog-rl compare``). It runs simulations,
so it sits above ``dialog_rl.rollout`` beside ``dialog_rl.train`` and ``dialog_rl.ope``.
"""
