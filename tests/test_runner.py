"""The in-process executor behaves like ComfyUI's where it matters, and dv-run's command line."""

from __future__ import annotations

import json

import pytest
from diffusers_video.runner import cli
from diffusers_video.runner.executor import Executor, NodeExecutionError, PromptError

CALLS: list[str] = []


class Const:
    RETURN_TYPES = ("INT",)
    FUNCTION = "make"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {})}}

    def make(self, value):
        CALLS.append(f"Const{value}")
        return (value,)


class Add:
    RETURN_TYPES = ("INT",)
    FUNCTION = "add"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": ("INT", {}), "b": ("INT", {}), "mode": (["sum", "max"], {})}}

    def add(self, a, b, mode):
        CALLS.append("Add")
        if a < 0:
            raise ValueError("Add: input 'a': negative")
        return (a + b if mode == "sum" else max(a, b),)


class Show:
    OUTPUT_NODE = True
    RETURN_TYPES = ()
    FUNCTION = "show"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {})},
                "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO", "unique_id": "UNIQUE_ID"}}

    def show(self, value, prompt=None, extra_pnginfo=None, unique_id=None):
        CALLS.append("Show")
        return {"ui": {"value": [value], "id": [unique_id], "has_prompt": [prompt is not None],
                       "workflow": [extra_pnginfo.get("workflow")]}, "result": ()}


class Text:
    RETURN_TYPES = ("STRING",)
    FUNCTION = "make"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    def make(self):
        return ("x",)


NODES = {"Const": Const, "Add": Add, "Show": Show, "Text": Text}


def graph(a=1, b=2, mode="sum"):
    return {
        "1": {"class_type": "Const", "inputs": {"value": a}},
        "2": {"class_type": "Const", "inputs": {"value": b}},
        "3": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": ["2", 0], "mode": mode}},
        "4": {"class_type": "Show", "inputs": {"value": ["3", 0]}},
        "9": {"class_type": "Const", "inputs": {"value": 99}},  # feeds no output: never runs
    }


@pytest.fixture(autouse=True)
def clear_calls():
    CALLS.clear()


def test_runs_output_ancestors_in_order_with_hidden_inputs():
    result = Executor(NODES).run(graph(), {"workflow": {"w": 1}})
    assert CALLS == ["Const1", "Const2", "Add", "Show"]
    assert result.outputs == {"4": {"value": [3], "id": ["4"], "has_prompt": [True], "workflow": [{"w": 1}]}}


def test_requeue_runs_nothing_and_a_change_reruns_only_downstream():
    executor = Executor(NODES)
    executor.run(graph())
    CALLS.clear()
    again = executor.run(graph())
    assert CALLS == [] and sorted(again.cached) == ["1", "2", "3", "4"]
    changed = executor.run(graph(b=5))
    assert CALLS == ["Const5", "Add", "Show"] and changed.outputs["4"]["value"] == [6]


@pytest.mark.parametrize("prompt,node,text", [
    ({"1": {"class_type": "Nope", "inputs": {}}, "4": {"class_type": "Show", "inputs": {"value": 1}}}, "1",
     "unknown node type"),
    ({"4": {"class_type": "Show", "inputs": {}}}, "4", "required input 'value' is missing"),
    ({"4": {"class_type": "Show", "inputs": {"value": ["7", 0]}}}, "4", "missing node"),
    ({"1": {"class_type": "Text", "inputs": {}}, "4": {"class_type": "Show", "inputs": {"value": ["1", 0]}}}, "4",
     "expects INT"),
    ({**graph(mode="avg")}, "3", "value not in list"),
])
def test_invalid_prompts_name_node_and_input(prompt, node, text):
    with pytest.raises(PromptError) as info:
        Executor(NODES).run(prompt)
    assert node in info.value.node_errors
    assert text in json.dumps(info.value.node_errors)


def test_node_exception_keeps_its_message_and_names_the_node():
    with pytest.raises(NodeExecutionError) as info:
        Executor(NODES).run(graph(a=-1))
    assert str(info.value).startswith("Add: input 'a': negative") and "node 3" in str(info.value)


def test_cli_set_overrides_and_exit_codes(tmp_path, monkeypatch, capsys):
    import diffusers_video

    monkeypatch.setattr(diffusers_video, "NODE_CLASS_MAPPINGS", NODES)
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(graph()))
    assert cli.main(["run", str(path), "--in-process", "--set", "2.value=10", "--output-dir", str(tmp_path)]) == 0
    assert CALLS[-1] == "Show" and "Const10" in CALLS
    assert cli.main(["run", str(path), "--in-process", "--set", "3.mode=\"avg\""]) == 1
    assert "value not in list" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="no input 'nope'"):
        cli.main(["run", str(path), "--in-process", "--set", "3.nope=1"])
