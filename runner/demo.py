"""`dv-run demo`: render the shipped CogVideoX example workflow to a real mp4 on any machine.

It builds a tiny randomly initialised CogVideoX (seconds, no download), points the example's loader at it,
and runs the example exactly as shipped (49 frames, 720x480, 8 fps, guidance 6) through the same
executor as `dv-run run`, except for the number of steps (default 4 instead of 50, so a CPU finishes in
about a minute). The video is coloured noise, because the weights are random; what it shows is that the
whole graph, from loader to mp4 with the workflow embedded, works on this machine.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parent.parent / "example_workflows"
EXAMPLE = "cogvideox_text_to_video"
TINY_NAME = "tiny-cogvideox"


def load_example(name: str = EXAMPLE) -> tuple[dict[str, Any], dict[str, Any]]:
    """(API prompt, UI workflow) of a shipped example."""
    with open(EXAMPLES / "api" / f"{name}.json", encoding="utf-8") as f:
        prompt = json.load(f)
    with open(EXAMPLES / f"{name}.json", encoding="utf-8") as f:
        workflow = json.load(f)
    return prompt, workflow


def substitute_tiny_model(prompt: dict[str, Any], workflow: dict[str, Any], steps: int | None) -> None:
    """Point every DVPipelineLoader at the tiny model (in the prompt and in the embedded UI workflow)."""
    for node in prompt.values():
        if node["class_type"] == "DVPipelineLoader":
            node["inputs"]["model"] = TINY_NAME
        if node["class_type"] == "DVSampler" and steps:
            node["inputs"]["num_inference_steps"] = steps
    for node in workflow.get("nodes", []):
        if node["type"] == "DVPipelineLoader":
            node["widgets_values"][0] = TINY_NAME
        if node["type"] == "DVSampler" and steps:
            node["widgets_values"][3] = steps


def run_demo(args: Any) -> int:
    from .. import NODE_CLASS_MAPPINGS
    from ..tiny_models.cache import install_into_models_dir
    from .executor import Executor

    output_dir = os.path.abspath(getattr(args, "output_dir", None) or "output")
    steps = getattr(args, "steps", None) or 4
    models_dir = os.path.join(tempfile.gettempdir(), "diffusers_video_demo_models")
    started = time.perf_counter()
    print(f"building a tiny CogVideoX in {models_dir} ...", flush=True)
    install_into_models_dir(models_dir, family_id="cogvideox", name=TINY_NAME)

    prompt, workflow = load_example()
    substitute_tiny_model(prompt, workflow, steps)
    os.environ["DV_MODELS_DIR"] = models_dir
    os.environ["DV_OUTPUT_DIR"] = output_dir
    print(f"running example_workflows/{EXAMPLE}.json with {steps} steps ...", flush=True)
    result = Executor(NODE_CLASS_MAPPINGS).run(prompt, extra_pnginfo={"workflow": workflow})
    files = [
        os.path.join(output_dir, item.get("subfolder", ""), item["filename"])
        for ui in result.outputs.values()
        for item in ui.get("images", [])
    ]
    for path in files:
        print(f"wrote {path}")
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0 if files else 1
