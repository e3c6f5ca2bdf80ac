"""The README's node reference is generated from the code and must not drift from it."""

from __future__ import annotations

import os

from diffusers_video import NODE_CLASS_MAPPINGS
from diffusers_video.runner.node_reference import END, START, render

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def test_readme_node_reference_matches_the_code():
    with open(README, encoding="utf-8") as f:
        text = f.read()
    current = text[text.index(START):text.index(END) + len(END)]
    assert current == render(NODE_CLASS_MAPPINGS), (
        "README node reference is stale: python -m diffusers_video.runner.node_reference --write README.md")


def test_readme_names_every_node():
    with open(README, encoding="utf-8") as f:
        text = f.read()
    for node_id in NODE_CLASS_MAPPINGS:
        assert f"**{node_id}**" in text
