"""The contract ships with the project: docs/SPEC.md is the shared SPEC.md, byte for byte."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vectors import SHARED

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "docs" / "SPEC.md"


def test_the_spec_copy_is_the_shared_spec() -> None:
    shared = SHARED / "SPEC.md"
    if not shared.exists():
        pytest.skip(f"no shared SPEC.md at {shared}: the copy is all there is")
    assert SPEC.read_bytes() == shared.read_bytes(), (
        f"docs/SPEC.md differs from {shared}: copy it over (cp {shared} docs/SPEC.md)"
    )


def test_no_link_leaves_the_repository() -> None:
    """A standalone clone has no ../shared: every Markdown link to SPEC.md stays inside."""
    outside = []
    for md in [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", md.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://", "#", "mailto:")):
                continue
            path = (md.parent / target.split("#", 1)[0]).resolve()
            if not path.is_relative_to(ROOT) or not path.exists():
                outside.append(f"{md.relative_to(ROOT)}: {target}")
    assert not outside, "links that a standalone clone cannot follow:\n" + "\n".join(outside)
