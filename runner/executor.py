"""Running an API-format workflow in-process with V1 node classes, as ComfyUI's executor would.

Used when no ComfyUI is at hand (tests, `dv-run` without a server, the demo). It mirrors what matters of
ComfyUI's behaviour: only output nodes and what they depend on run, in dependency order; prompts are
validated before anything runs (with node_errors shaped like ComfyUI's); hidden inputs are delivered;
nodes run under torch.inference_mode(); and an unchanged node is not run again on a re-queue.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class PromptError(ValueError):
    """The prompt is invalid; `node_errors` has ComfyUI's shape."""

    def __init__(self, node_errors: dict[str, Any]) -> None:
        self.node_errors = node_errors
        lines = [f"node {nid} ({info['class_type']}): {err['message']}"
                 for nid, info in node_errors.items() for err in info["errors"]]
        super().__init__("invalid prompt:\n" + "\n".join(lines))


class NodeExecutionError(RuntimeError):
    def __init__(self, node_id: str, class_type: str, error: BaseException) -> None:
        self.node_id, self.class_type, self.original = node_id, class_type, error
        super().__init__(f"{error} (node {node_id}, {class_type})")


@dataclass
class RunResult:
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # node id -> ui dict, as /history
    executed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    values: dict[str, tuple] = field(default_factory=dict)  # node id -> its outputs, for every node that ran


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


def _types_match(output_type: str, input_type: Any) -> bool:
    return output_type == input_type or "*" in (output_type, input_type)


class Executor:
    def __init__(self, node_classes: dict[str, type]) -> None:
        self.node_classes = node_classes
        self._cache: dict[str, tuple[str, tuple]] = {}  # node id -> (cache key, outputs)

    # ---------------------------------------------------------------------------------- validation

    def validate(self, prompt: dict[str, Any]) -> list[str]:
        """The output node ids to run; raises PromptError listing every problem."""
        errors: dict[str, Any] = {}

        def problem(node_id: str, message: str, input_name: str | None = None) -> None:
            entry = errors.setdefault(node_id, {"errors": [], "class_type": prompt[node_id].get("class_type")})
            entry["errors"].append({"message": message, "details": message,
                                    "extra_info": {"input_name": input_name} if input_name else {}})

        outputs = []
        for node_id, node in prompt.items():
            cls = self.node_classes.get(node.get("class_type"))
            if cls is None:
                problem(node_id, f"unknown node type '{node.get('class_type')}'")
                continue
            if getattr(cls, "OUTPUT_NODE", False):
                outputs.append(node_id)
            types = cls.INPUT_TYPES()
            declared = {**types.get("required", {}), **types.get("optional", {})}
            for name in types.get("required", {}):
                if name not in node.get("inputs", {}):
                    problem(node_id, f"required input '{name}' is missing", name)
            for name, value in node.get("inputs", {}).items():
                spec = declared.get(name)
                if spec is None:
                    continue  # ComfyUI ignores inputs a node does not declare
                if _is_link(value):
                    source = prompt.get(value[0])
                    source_cls = self.node_classes.get(source.get("class_type")) if source else None
                    if source_cls is None or value[1] >= len(source_cls.RETURN_TYPES):
                        problem(node_id, f"input '{name}' links to a missing node or output {value}", name)
                    elif not _types_match(source_cls.RETURN_TYPES[value[1]], spec[0]):
                        problem(node_id, f"input '{name}' expects {spec[0]}, but node {value[0]} gives "
                                f"{source_cls.RETURN_TYPES[value[1]]}", name)
                elif isinstance(spec[0], list) and value not in spec[0]:
                    problem(node_id, f"value not in list: {name}: '{value}' not in {spec[0][:10]}", name)
        if not outputs and not errors:
            raise PromptError({"prompt": {"errors": [{"message": "the prompt has no output node", "details": "",
                                                      "extra_info": {}}], "class_type": None}})
        if errors:
            raise PromptError(errors)
        return outputs

    # ----------------------------------------------------------------------------------- execution

    def run(self, prompt: dict[str, Any], extra_pnginfo: dict[str, Any] | None = None,
            on_node: Callable[[str, str], None] | None = None, write_outputs: bool = True,
            captured: dict[str, dict[str, Any]] | None = None, targets: list[str] | None = None) -> RunResult:
        """write_outputs=False: output nodes (files, previews) get their inputs computed but do not run, as on
        the ranks of a parallel run that are not rank 0 (every rank must take part in the denoising); their
        arguments go into `captured` (node id -> kwargs) where given, for `run_outputs` on the writing rank.
        targets: run these nodes (and what they depend on) instead of the output nodes, unvalidated (a part of
        a prompt a server validated, replayed by a parallel worker); their outputs are in `result.values`."""
        import torch

        outputs = self.validate(prompt) if targets is None else list(targets)
        result = RunResult()
        values: dict[str, tuple] = result.values
        keys: dict[str, str] = {}
        hidden = {"PROMPT": prompt, "EXTRA_PNGINFO": extra_pnginfo or {}}

        def visit(node_id: str, trail: tuple[str, ...] = ()) -> None:
            if node_id in values:
                return
            if node_id in trail:
                error = {"message": "the graph has a cycle", "details": "", "extra_info": {}}
                raise PromptError({node_id: {"errors": [error], "class_type": prompt[node_id]["class_type"]}})
            node = prompt[node_id]
            for value in node["inputs"].values():
                if _is_link(value):
                    visit(value[0], trail + (node_id,))
            cls = self.node_classes[node["class_type"]]
            kwargs = {name: values[v[0]][v[1]] if _is_link(v) else v for name, v in node["inputs"].items()}
            for name, kind in cls.INPUT_TYPES().get("hidden", {}).items():
                kwargs[name] = node_id if kind == "UNIQUE_ID" else hidden.get(kind)
            if not write_outputs and getattr(cls, "OUTPUT_NODE", False):
                if captured is not None:
                    captured[node_id] = kwargs
                values[node_id] = ()
                return
            key = self._cache_key(node_id, node, keys, cls, kwargs)
            keys[node_id] = key
            cached = self._cache.get(node_id)
            if cached is not None and cached[0] == key:
                values[node_id] = cached[1]
                result.cached.append(node_id)
                return
            if on_node:
                on_node(node_id, node["class_type"])
            try:
                with torch.inference_mode():
                    returned = getattr(cls(), cls.FUNCTION)(**kwargs)
            except Exception as error:
                raise NodeExecutionError(node_id, node["class_type"], error) from error
            if isinstance(returned, dict):
                if "ui" in returned:
                    result.outputs[node_id] = returned["ui"]
                returned = tuple(returned.get("result", ()))
            values[node_id] = tuple(returned)
            self._cache[node_id] = (key, values[node_id])
            result.executed.append(node_id)

        for node_id in outputs:
            visit(node_id)
        return result

    def run_outputs(self, prompt: dict[str, Any], captured: dict[str, dict[str, Any]]) -> RunResult:
        """The output nodes of a run made with write_outputs=False, called with the arguments it captured."""
        import torch

        result = RunResult()
        for node_id, kwargs in captured.items():
            cls = self.node_classes[prompt[node_id]["class_type"]]
            try:
                with torch.inference_mode():
                    returned = getattr(cls(), cls.FUNCTION)(**kwargs)
            except Exception as error:
                raise NodeExecutionError(node_id, prompt[node_id]["class_type"], error) from error
            if isinstance(returned, dict) and "ui" in returned:
                result.outputs[node_id] = returned["ui"]
            result.executed.append(node_id)
        return result

    def _cache_key(self, node_id: str, node: dict, keys: dict[str, str], cls: type, kwargs: dict) -> str:
        """Class, literal inputs and the keys of upstream nodes: unchanged means not run again."""
        inputs = {name: ["link", keys[v[0]], v[1]] if _is_link(v) else v for name, v in node["inputs"].items()}
        parts: dict[str, Any] = {"class": node["class_type"], "inputs": inputs}
        if hasattr(cls, "IS_CHANGED"):
            changed = cls.IS_CHANGED(**{k: v for k, v in kwargs.items() if not _is_link(node["inputs"].get(k))})
            if isinstance(changed, float) and math.isnan(changed):
                return f"always-run-{id(kwargs)}"
            parts["changed"] = repr(changed)
        return json.dumps(parts, sort_keys=True, default=repr)
