"""What a parallel worker needs to replay one DVSampler call: the part of the prompt that made each linked input
(loaders, LoRAs, text encoding, image loading), which the worker runs itself, and the widget values.

Models are rebuilt from their nodes rather than sent: a loaded model is gigabytes and tied to its process;
the nodes that made it are a few lines of JSON and load the same weights the same way in the worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import DVInputError


@dataclass(frozen=True)
class Recipe:
    nodes: dict[str, Any]  # the upstream part of the prompt, API format
    node_id: str
    output: int


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[1], int)


def upstream(prompt: Mapping[str, Any], node_id: str) -> dict[str, Any]:
    """node_id and every node it depends on."""
    found: dict[str, Any] = {}
    todo = [str(node_id)]
    while todo:
        current = todo.pop()
        if current in found or current not in prompt:
            continue
        found[current] = prompt[current]
        todo += [str(v[0]) for v in prompt[current].get("inputs", {}).values() if _is_link(v)]
    return found


def for_node(prompt: Mapping[str, Any] | None, node_id: str | None, known_classes: Mapping[str, type],
             kwargs: Mapping[str, Any]) -> tuple[dict[str, Recipe], dict[str, Any]]:
    """(recipes by input name, values by input name) for the node `node_id` of `prompt` called with `kwargs`.

    A linked input whose upstream nodes a worker can run (the pack's and the core stand-ins of the runner)
    becomes a recipe; a tensor from elsewhere travels as is; anything else is refused by name."""
    import torch

    if not prompt or node_id is None or str(node_id) not in prompt:
        raise DVInputError("model", "a parallel run needs the prompt the node belongs to, which this call lacks.",
                           "run it from ComfyUI or dv-run (which pass the prompt), or without DVParallel.")
    inputs = prompt[str(node_id)].get("inputs", {})
    recipes: dict[str, Recipe] = {}
    values: dict[str, Any] = {}
    for name, value in kwargs.items():
        if value is None:
            continue
        link = inputs.get(name)
        if _is_link(link):
            nodes = upstream(prompt, str(link[0]))
            foreign = sorted({n["class_type"] for n in nodes.values() if n["class_type"] not in known_classes})
            if not foreign:
                recipes[name] = Recipe(nodes, str(link[0]), int(link[1]))
                continue
            if isinstance(value, torch.Tensor):
                values[name] = value.detach().cpu()
                continue
            raise DVInputError(name, f"it comes from nodes a parallel worker cannot run ({', '.join(foreign)}).",
                               "inputs made by this pack's nodes or core's LoadImage, or a run without DVParallel.")
        values[name] = value
    return recipes, values
