"""The one error type users see from this pack: it names the node, the input and what would be valid."""

from __future__ import annotations


class DVInputError(ValueError):
    """Bad input to a node. ComfyUI shows str(exc) in the node's error popup and in node_errors."""

    def __init__(self, node: str, input_name: str, problem: str, valid: str | None = None) -> None:
        self.node = node
        self.input_name = input_name
        self.problem = problem
        self.valid = valid
        text = f"{node}: input '{input_name}': {problem}"
        if valid:
            text += f" Valid: {valid}"
        super().__init__(text)


def expect_type(node: str, input_name: str, value: object, expected: type, what: str) -> None:
    """Refuse a wrong object wired into an input (e.g. a core VAE into a DV_VAE socket via a reroute)."""
    if not isinstance(value, expected):
        raise DVInputError(
            node,
            input_name,
            f"got {type(value).__name__}, which is not {what}.",
            f"connect the output of a node that produces {what}.",
        )
