"""The README's two set-up commands and CI stay in step; tutorials stay runnable."""

import re
import runpy
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _setup_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", section, flags=re.S)


def test_readme_has_exactly_two_setup_commands():
    cmds = _setup_commands()
    assert len(cmds) == 2
    assert all("\n" not in c for c in cmds)
    assert cmds[0].startswith("python3 -m venv") and cmds[0].endswith("synframe demo")


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert _setup_commands()[1] in ci


@pytest.mark.parametrize("script", sorted((REPO / "tutorials").glob("*.py")), ids=lambda p: p.name)
def test_tutorials_run(script):
    runpy.run_path(str(script), run_name="__main__")
