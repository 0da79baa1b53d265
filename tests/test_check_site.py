"""scripts/check_site.py finds what a reader of the built docs would trip over."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("check_site", REPO / "scripts" / "check_site.py")
check_site = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_site)


def page(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<html><body>{body}</body></html>")


def test_a_clean_site_passes(tmp_path):
    page(tmp_path / "index.html", '<a href="api/#fetch">api</a><img src="img/a.png">')
    page(tmp_path / "api" / "index.html", '<h2 id="fetch">fetch</h2><a href="../">home</a>')
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(b"png")
    assert check_site.check(tmp_path) == []
    assert check_site.main([str(tmp_path)]) == 0


def test_every_kind_of_problem_is_reported(tmp_path):
    page(
        tmp_path / "index.html",
        '<a href="missing/">x</a><a href="api/#nope">y</a><img src="gone.png">'
        "<p>see :func:<code>synframe.fetch</code></p><!-- synframe:cli -->"
        '<a href="https://example.org/elsewhere">external links are not followed</a>',
    )
    page(tmp_path / "api" / "index.html", '<h2 id="fetch">fetch</h2>')
    page(
        tmp_path / "tutorials" / "t" / "index.html", "<pre>Traceback (most recent call last)</pre>"
    )
    problems = check_site.check(tmp_path)
    kinds = sorted(p.split(": ", 1)[1].split(" ")[0] for p in problems)
    assert kinds == ["an", "broken", "link", "missing", "raw", "unfilled"], problems
    assert check_site.main([str(tmp_path)]) == 1
