"""Converting between ComfyUI's two workflow formats for V1 nodes.

The UI format (what the editor saves and the template browser opens) keeps widget values as a positional
list; the API format (what POST /prompt takes) names every input. The frontend converts UI -> API in
graphToPrompt; this module does the same for our example workflows and for the headless runner, so a
shared UI workflow file can be run without the editor. The rules mirror the frontend's: widget inputs are
the non-socket inputs in INPUT_TYPES order (required, then optional), and an INT input with
control_after_generate carries one extra value (the "fixed"/"randomize" choice) right after its own.
"""

from __future__ import annotations

from typing import Any

WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")


def _is_widget(spec: tuple) -> bool:
    kind = spec[0]
    return isinstance(kind, list) or kind in WIDGET_TYPES


def input_specs(node_class: type) -> list[tuple[str, tuple]]:
    types = node_class.INPUT_TYPES()
    return [(name, spec) for section in ("required", "optional") for name, spec in types.get(section, {}).items()]


def widget_names(node_class: type) -> list[tuple[str, bool]]:
    """(input name, has an extra value after it) for every widget, in the editor's order. The editor adds a
    value after widgets with control_after_generate (fixed/randomize) and after image_upload combos."""
    names = []
    for name, spec in input_specs(node_class):
        if _is_widget(spec):
            options = spec[1] if len(spec) > 1 else {}
            names.append((name, bool(options.get("control_after_generate") or options.get("image_upload"))))
    return names


def ui_to_api(ui: dict[str, Any], node_classes: dict[str, type]) -> dict[str, Any]:
    """An API prompt from a UI workflow (muted/bypassed nodes and unknown helper nodes such as notes dropped)."""
    links = {link[0]: link for link in ui.get("links", [])}
    prompt: dict[str, Any] = {}
    for node in ui["nodes"]:
        cls = node_classes.get(node["type"])
        if cls is None or node.get("mode", 0) != 0:
            continue
        inputs: dict[str, Any] = {}
        values = list(node.get("widgets_values") or [])
        for name, has_control in widget_names(cls):
            if values:
                inputs[name] = values.pop(0)
            if has_control and values:
                values.pop(0)
        for slot in node.get("inputs", []):
            link_id = slot.get("link")
            if link_id is not None and link_id in links:
                _, from_node, from_slot, *_ = links[link_id]
                inputs[slot["name"]] = [str(from_node), from_slot]
        prompt[str(node["id"])] = {
            "class_type": node["type"],
            "inputs": inputs,
            "_meta": {"title": node.get("title", getattr(cls, "DISPLAY_NAME", node["type"]))},
        }
    return prompt


def api_to_ui(prompt: dict[str, Any], node_classes: dict[str, type],
              positions: dict[str, tuple[float, float]] | None = None) -> dict[str, Any]:
    """A UI workflow laid out left to right from an API prompt (for shipping example workflows)."""
    positions = positions or {}
    links: list[list[Any]] = []
    nodes = []
    outgoing: dict[tuple[str, int], list[int]] = {}
    for node_id, node in prompt.items():
        cls = node_classes[node["class_type"]]
        for name, spec in input_specs(cls):
            value = node["inputs"].get(name)
            if isinstance(value, list) and not _is_widget(spec):
                link_id = len(links) + 1
                src_cls = node_classes[prompt[value[0]]["class_type"]]
                links.append([link_id, int(value[0]), value[1], int(node_id), None, src_cls.RETURN_TYPES[value[1]]])
                outgoing.setdefault((value[0], value[1]), []).append(link_id)
    for order, (node_id, node) in enumerate(prompt.items()):
        cls = node_classes[node["class_type"]]
        inputs, widgets_values = [], []
        for name, spec in input_specs(cls):
            value = node["inputs"].get(name)
            if _is_widget(spec):
                options = spec[1] if len(spec) > 1 else {}
                widgets_values.append(value if value is not None else options.get("default"))
                if options.get("control_after_generate"):
                    widgets_values.append("fixed")
                elif options.get("image_upload"):
                    widgets_values.append("image")
                continue
            slot = {"name": name, "type": spec[0], "link": None}
            if isinstance(value, list):
                for link in links:
                    if link[3] == int(node_id) and link[4] is None and link[1] == int(value[0]) and link[2] == value[1]:
                        link[4] = len(inputs)
                        slot["link"] = link[0]
                        break
            inputs.append(slot)
        outputs = [
            {"name": (getattr(cls, "RETURN_NAMES", None) or cls.RETURN_TYPES)[i], "type": rtype,
             "links": outgoing.get((node_id, i), []), "slot_index": i}
            for i, rtype in enumerate(cls.RETURN_TYPES)
        ]
        x, y = positions.get(node_id, (50 + 380 * order, 100))
        nodes.append({
            "id": int(node_id),
            "type": node["class_type"],
            "pos": [x, y],
            "size": [340, 60 + 26 * (len(inputs) + len(widgets_values))],
            "flags": {},
            "order": order,
            "mode": 0,
            "inputs": inputs,
            "outputs": outputs,
            "title": node.get("_meta", {}).get("title", getattr(cls, "DISPLAY_NAME", node["class_type"])),
            "properties": {"Node name for S&R": node["class_type"]},
            "widgets_values": widgets_values,
        })
    return {
        "last_node_id": max(int(k) for k in prompt),
        "last_link_id": len(links),
        "nodes": nodes,
        "links": links,
        "groups": [],
        "config": {},
        "extra": {"ds": {"scale": 0.8, "offset": [0, 0]}},
        "version": 0.4,
    }


def regenerate_examples(examples_dir: str, node_classes: dict[str, type]) -> list[str]:
    """Write every example's UI workflow from its API twin (example_workflows/api/<name>.json), laid out
    left to right in dependency order. Run after editing an API twin; a test keeps the two in step."""
    import json
    import os

    written = []
    api_dir = os.path.join(examples_dir, "api")
    for filename in sorted(os.listdir(api_dir)):
        if not filename.endswith(".json"):
            continue
        with open(os.path.join(api_dir, filename), encoding="utf-8") as f:
            prompt = json.load(f)
        positions = {node_id: (40 + 420 * column, 80 + 40 * (column % 2)) for column, node_id in enumerate(prompt)}
        ui = api_to_ui(prompt, node_classes, positions)
        for node in ui["nodes"]:
            if node["type"] == "DVTextEncode":
                node["size"] = [400, 380]
        with open(os.path.join(examples_dir, filename), "w", encoding="utf-8") as f:
            json.dump(ui, f, indent=1)
            f.write("\n")
        written.append(filename)
    return written


if __name__ == "__main__":
    import os

    from .. import NODE_CLASS_MAPPINGS
    from .core_nodes import CORE_NODES

    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "example_workflows")
    print("\n".join(regenerate_examples(root, {**CORE_NODES, **NODE_CLASS_MAPPINGS})))
