"""The one error type users see from this pack: it names the node, the input and what would be valid.

The model layer raises it with the input, the problem and what would be valid; the node boundary stamps its
own id on it (`stamped`, applied to every node class when the pack registers them), so no node id is passed
down through the layers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


class DVInputError(ValueError):
    """Bad input to a node. ComfyUI shows str(exc) in the node's error popup and in node_errors."""

    def __init__(self, input_name: str, problem: str, valid: str | None = None, node: str | None = None) -> None:
        self.input_name = input_name
        self.problem = problem
        self.valid = valid
        self.node = node
        super().__init__(self._text())

    def _text(self) -> str:
        text = f"input '{self.input_name}': {self.problem}"
        if self.node:
            text = f"{self.node}: {text}"
        if self.valid:
            text += f" Valid: {self.valid}"
        return text

    def stamp(self, node: str) -> DVInputError:
        """Name the node that was running, unless an inner node already did."""
        if not self.node:
            self.node = node
            self.args = (self._text(),)
        return self

    def __str__(self) -> str:
        return self._text()


def stamped(node: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` (a node's FUNCTION or check) with its DVInputErrors naming `node`."""

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except DVInputError as error:
            error.stamp(node)
            raise

    call.__dv_stamped__ = True  # type: ignore[attr-defined]
    return call


def expect_type(input_name: str, value: object, expected: type, what: str) -> None:
    """Refuse a wrong object wired into an input (e.g. a core VAE into a DV_VAE socket via a reroute)."""
    if not isinstance(value, expected):
        raise DVInputError(
            input_name,
            f"got {type(value).__name__}, which is not {what}.",
            f"connect the output of a node that produces {what}.",
        )


def finite_number(input_name: str, value: object, minimum: float | None = None, maximum: float | None = None,
                  valid: str | None = None) -> float:
    """`value` as a float, refusing NaN and the infinities by name (a JSON NaN or the string "nan" from an API
    client passes ComfyUI's min/max checks, since NaN compares false with both) and, where given, values
    outside [minimum, maximum] (callers that bypass ComfyUI's validation: the runner, library use)."""
    import math

    if minimum is not None and maximum is not None:
        bounds = f"a number from {minimum:g} to {maximum:g}"
    elif minimum is not None:
        bounds = f"a number >= {minimum:g}"
    elif maximum is not None:
        bounds = f"a number <= {maximum:g}"
    else:
        bounds = "a finite number"
    valid = valid or bounds + "."
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DVInputError(input_name, f"{value!r} is not a number.", valid) from None
    if not math.isfinite(number):
        raise DVInputError(input_name, f"{value!r} is not a finite number.", valid)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise DVInputError(input_name, f"{number:g} is out of range.", valid)
    return number


def whole_number(input_name: str, value: object, minimum: int | None = None, maximum: int | None = None,
                 valid: str | None = None) -> int:
    """`value` as an int within [minimum, maximum], refused by name otherwise (callers that bypass ComfyUI's
    min/max checks reach here with negative counts, zero steps or floats)."""
    if minimum is not None and maximum is not None:
        bounds = f"a whole number from {minimum} to {maximum}"
    elif minimum is not None:
        bounds = f"a whole number >= {minimum}"
    else:
        bounds = "a whole number" + (f" <= {maximum}" if maximum is not None else "")
    valid = valid or bounds + "."
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise DVInputError(input_name, f"{value!r} is not a whole number.", valid)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise DVInputError(input_name, f"{value} is out of range.", valid)
    return value
