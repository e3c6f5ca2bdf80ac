"""Collects the node classes of every module here into ComfyUI's mappings.

Registration is also the node boundary: each class's FUNCTION is wrapped so that a DVInputError raised
anywhere below names the node that ran. (VALIDATE_INPUTS and IS_CHANGED are left as they are: ComfyUI reads
their argument lists with getfullargspec, which a wrapper would hide; neither raises.)
"""

import functools
import inspect
from typing import Any

from ..errors import finite_number, stamped, whole_number
from . import controlnet, download, latents, loaders, ltx, memory, options, parallel, sampling, speed, vae, video

NODE_CLASS_MAPPINGS: dict[str, type] = {}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}


def _numeric_inputs(cls: type) -> dict[str, tuple[str, dict[str, Any]]]:
    """The node's declared INT and FLOAT inputs with their options (min, max)."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for section in ("required", "optional"):
        for name, spec in cls.INPUT_TYPES().get(section, {}).items():
            if isinstance(spec, tuple) and spec and spec[0] in ("INT", "FLOAT"):
                found[name] = (spec[0], spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {})
    return found


def _checked_numbers(cls: type, function):
    """`function` refusing, by name, a number its INPUT_TYPES would not allow: NaN and infinities (which pass
    ComfyUI's own min/max checks) and values outside the declared min/max (callers that skip ComfyUI's
    validation: API clients of the headless runner, the in-process executor, library use)."""
    signature = inspect.signature(function)
    own = set(getattr(cls, "RANGES_CHECKED_BY_NODE", ()))  # the node says more (a family's frame rule)
    numeric: list[dict[str, tuple[str, dict[str, Any]]]] = []  # read on first call: loaders list folders there

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        if not numeric:
            numeric.append(_numeric_inputs(cls))
        bound = signature.bind(*args, **kwargs)
        for name, value in bound.arguments.items():
            if name not in numeric[0]:
                continue
            kind, options = numeric[0][name]
            if name in own:
                options = {}
            if kind == "FLOAT":
                bound.arguments[name] = finite_number(name, value, options.get("min"), options.get("max"))
            else:
                whole_number(name, value, options.get("min"), options.get("max"))
        return function(*bound.args, **bound.kwargs)

    return call


def _stamp_errors(cls: type) -> None:
    method = getattr(cls, cls.FUNCTION)
    if not getattr(method, "__dv_stamped__", False):
        setattr(cls, cls.FUNCTION, stamped(cls.__name__, _checked_numbers(cls, method)))


for _module in (loaders, sampling, vae, video, latents, options, controlnet, speed, memory, download, ltx, parallel):
    for _cls in _module.NODES:
        _stamp_errors(_cls)
        NODE_CLASS_MAPPINGS[_cls.__name__] = _cls
        NODE_DISPLAY_NAME_MAPPINGS[_cls.__name__] = _cls.DISPLAY_NAME
