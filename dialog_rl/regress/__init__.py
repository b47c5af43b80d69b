"""Policy regression tests: a statistical CI gate, golden conversations, scenario health checks.

- ``gate``: paired (common-random-number) comparison of two policies with a group-sequential
  verdict; ``crn`` keeps the two conversations' random draws aligned.
- ``offline``: the same verdict from logged conversations by off-policy evaluation.
- ``golden``: record deterministic transcripts and show the first turn that changed.
- ``health``: loops, empty turns, unsatisfiable goals, evaluator mismatches.
- ``plugin``: the pytest fixture ``dialog_regression``.

Submodules are imported on use; importing this package imports nothing heavy.
"""
