"""What the documentation tells users to install exists in pyproject.toml."""

from __future__ import annotations

import re
import tomllib

from tests.conftest import REPO


def test_every_extra_the_docs_name_exists() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = set(project["optional-dependencies"])
    docs = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    # `pip install -e '.[test]'`: the project's own extras (not pyrtlsdr[lib], a dependency's).
    named = {
        (doc.name, extra)
        for doc in docs
        for group in re.findall(r"(?<![\w-])\.\[([\w,-]+)\]", doc.read_text())
        for extra in group.split(",")
    }
    assert named, "the install instructions moved"
    assert {(doc, extra) for doc, extra in named if extra not in extras} == set()
