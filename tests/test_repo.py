"""The README's two set-up commands and CI stay in step; the tutorials are notebooks in the site."""

import re
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


TUTORIALS = sorted((REPO / "docs" / "tutorials").glob("*.py"))


def _nav_pages(node) -> list[str]:
    """Every page path listed in mkdocs.yml's nav (nested sections flattened)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [p for v in node.values() for p in _nav_pages(v)]
    return [p for item in node for p in _nav_pages(item)]


def test_every_tutorial_is_in_the_site_navigation():
    """mkdocs builds (and executes) every tutorial; one missing from nav is a page no one finds."""
    yaml = pytest.importorskip("yaml")
    nav = _nav_pages(yaml.safe_load((REPO / "mkdocs.yml").read_text())["nav"])
    listed = sorted(p for p in nav if p.startswith("tutorials/"))
    assert TUTORIALS, "no tutorials in docs/tutorials"
    assert listed == [f"tutorials/{p.name}" for p in TUTORIALS]


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_tutorial_is_a_jupytext_notebook(path):
    """The docs build executes the tutorials (mkdocs-jupyter, in CI); here: they are notebooks.

    A percent script read by jupytext (as mkdocs-jupyter reads it): a markdown title cell first,
    code cells, and the inline backend switched on in the first code cell -- synframe's figures
    are plain matplotlib Figures, which a notebook shows as images only with it.
    """
    jupytext = pytest.importorskip("jupytext")
    nb = jupytext.read(path)
    cells = [(c.cell_type, c.source) for c in nb.cells]
    assert cells[0][0] == "markdown" and cells[0][1].startswith("# "), cells[0]
    code = [src for kind, src in cells if kind == "code"]
    assert len(code) >= 3
    assert code[0].startswith("%matplotlib inline"), code[0][:80]
    assert "def main(" not in path.read_text()  # flat cells, as the page shows them


@pytest.mark.parametrize(
    "script", sorted((REPO / "docs" / "tutorials").glob("*.py")), ids=lambda p: p.name
)
def test_tutorial_headings_have_no_code(script):
    """A heading with inline code gets a different anchor in the page than in its table of
    contents (mkdocs-jupyter vs nbconvert): the contents' link would be broken."""
    headings = [line for line in script.read_text().splitlines() if re.match(r"# #+ ", line)]
    assert headings and not [h for h in headings if "`" in h]
