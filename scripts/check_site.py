"""Check a built documentation site as a reader meets it: no broken link, no missing image, no raw
Sphinx role or unfilled placeholder, no error output in an executed tutorial.

Usage::

    python scripts/check_site.py SITE_DIR

Exits 1 listing every problem. CI runs it after ``mkdocs build --strict``.
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

#: what an un-rendered cross-reference looks like in a page's text
ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|obj|exc|ref|py:\w+):(?=[`~\w])")
PLACEHOLDER = re.compile(r"<!-- synframe:\w+ -->")
TRACEBACK = re.compile(r"Traceback \(most recent call last\)")


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.images: list[str] = []
        self.ids: set[str] = set()
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if "name" in a and tag == "a":
            self.ids.add(a["name"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "img" and a.get("src") is not None:
            self.images.append(a["src"])
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8", errors="replace"))
    return page


def _target(site: Path, page: Path, url: str) -> Path | None:
    """The file an internal URL points at (None for external links)."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or url.startswith(("mailto:", "javascript:", "data:")):
        return None
    if not parts.path:
        return page
    base = site if parts.path.startswith("/") else page.parent
    target = (base / unquote(parts.path.lstrip("/"))).resolve()
    if target.is_dir() or parts.path.endswith("/"):
        target = target / "index.html"
    return target


def check(site: Path) -> list[str]:
    site = site.resolve()
    pages = sorted(site.rglob("*.html"))
    parsed = {p: _parse(p) for p in pages}
    problems = []
    for page, doc in parsed.items():
        name = page.relative_to(site)
        text = "".join(doc.text)
        for match in ROLE.finditer(text):
            snippet = text[match.start() : match.start() + 60].replace("\n", " ")
            problems.append(f"{name}: raw Sphinx role: {snippet!r}")
        for match in PLACEHOLDER.finditer(page.read_text(encoding="utf-8", errors="replace")):
            problems.append(f"{name}: unfilled placeholder {match.group()}")
        if "tutorials" in name.parts and TRACEBACK.search(text):
            problems.append(f"{name}: an executed tutorial shows a traceback")
        for url in doc.links:
            target = _target(site, page, url)
            if target is None:
                continue
            if not target.exists():
                problems.append(f"{name}: broken link {url!r}")
                continue
            fragment = urlsplit(url).fragment
            if fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                if unquote(fragment) not in ids:
                    problems.append(f"{name}: link {url!r}: no anchor #{fragment}")
        for src in doc.images:
            if src.startswith("data:"):
                if len(src) < 40:
                    problems.append(f"{name}: empty inline image")
                continue
            target = _target(site, page, src)
            if target is not None and not target.exists():
                problems.append(f"{name}: missing image {src!r}")
    if not pages:
        problems.append(f"{site}: no HTML pages")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    problems = check(Path(args[0]))
    for p in problems:
        print(p, file=sys.stderr)
    pages = len(list(Path(args[0]).rglob("*.html")))
    print(f"check_site: {pages} pages, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
