"""Every problem `type` the API can answer with is registered (problems.PROBLEM_TYPES) and listed for
integrators in docs/problems.md."""

from __future__ import annotations

import re
from http import HTTPStatus
from pathlib import Path

from tableorder.problems import PROBLEM_TYPES

ROOT = Path(__file__).resolve().parents[1]
LISTED = re.compile(r"^\| `urn:tableorder:problem:([a-z-]+)` \| (.+) \|$", re.MULTILINE)


def test_every_slug_in_the_code_is_registered() -> None:
    used = {slug for path in (ROOT / "src" / "tableorder").rglob("*.py")
            for slug in re.findall(r'slug="([a-z-]+)"', path.read_text())}
    assert used, "no slugs found: the pattern no longer matches the code"
    assert used - set(PROBLEM_TYPES) == set()


def test_the_default_problems_of_the_framework_are_registered() -> None:
    # Answered without a slug of ours (Litestar's own 404/405/413, our 500 and 503): the phrase's slug.
    for status in (400, 401, 403, 404, 405, 413, 500, 503):
        slug = HTTPStatus(status).phrase.lower().replace(" ", "-").replace("'", "")
        assert slug in PROBLEM_TYPES, (status, slug)


def test_docs_list_exactly_the_registered_types() -> None:
    listed = dict(LISTED.findall((ROOT / "docs" / "problems.md").read_text()))
    assert listed == PROBLEM_TYPES
