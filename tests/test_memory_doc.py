"""docs/memory.md is generated from the planning code (runner/memory_report.py): no figure in it is typed by hand,
and it cannot drift from the code."""

from __future__ import annotations

import os

from diffusers_video.runner.memory_report import render

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "memory.md")


def test_docs_memory_matches_the_code():
    with open(DOC, encoding="utf-8") as f:
        assert f.read() == render(), \
            "docs/memory.md is stale: python -m diffusers_video.runner.memory_report --write docs/memory.md"


def test_the_plan_table_has_every_release_and_card():
    from diffusers_video.memory.released import RELEASES

    text = render()
    chosen = text.split("## The plan chosen on each card")[1].split("##")[0]
    for release in RELEASES:
        (row,) = [line for line in chosen.splitlines() if line.startswith(f"| {release.name} |")]
        assert row.count("|") == 8  # the name and 6 cards
