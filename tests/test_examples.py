"""The examples in plans/ and runbooks/ are what the tool makes of the scenarios today."""
from __future__ import annotations

import pytest

from examples import EXAMPLES, ROOT, render


@pytest.mark.parametrize("scenario", sorted(EXAMPLES))
def test_examples_match_what_the_tool_generates(scenario):
    for path, text in render(scenario).items():
        assert path.exists(), f"{path.relative_to(ROOT)} missing: run `python tests/examples.py`"
        assert path.read_text() == text, f"{path.relative_to(ROOT)} is out of date: run `python tests/examples.py`"
