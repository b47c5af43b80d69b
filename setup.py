"""One build step pyproject.toml cannot declare: ship ``dialog_rl_gymnasium.pth`` in the wheel.

Everything else is in pyproject.toml. The .pth file sits beside the packages in site-packages;
Python runs its one line at start-up, which makes ``import gymnasium`` register dialog-rl's
Gymnasium ids (``dialog_rl/gymnasium_hook.py`` says why and what it costs). Editable installs
leave it out.
"""

from __future__ import annotations

import os

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = "dialog_rl_gymnasium.pth"


class BuildPyWithPth(build_py):
    """build_py, plus the .pth file at the top of the wheel (not in editable installs)."""

    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            self.copy_file(PTH, os.path.join(self.build_lib, PTH), preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if not self.editable_mode:
            outputs.append(os.path.join(self.build_lib, PTH))
        return outputs


setup(cmdclass={"build_py": BuildPyWithPth})
