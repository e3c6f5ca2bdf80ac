"""The editor extension in the real frontend (headless Chromium): it loads without errors of ours, and
DVSampler's helper snaps num_frames to the wired family's rule and flags a width it cannot take. Skipped
without COMFYUI_PATH, Chromium, node or playwright-core (`npm install --prefix tests/browser`)."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import KNOWN_PAGE_ERRORS, run_browser_script


def run_editor(comfy, browser_scripts, tmp_path, tiny: str, example: str) -> dict:
    """editor.mjs on a shipped example whose loader is pointed at the tiny model `tiny` (installed here)."""
    from diffusers_video.tiny_models.cache import install_into_models_dir

    install_into_models_dir(str(comfy.models), tiny, f"tiny-{tiny}")
    examples = Path(__file__).resolve().parents[2] / "example_workflows"
    workflow = json.loads((examples / f"{example}.json").read_text())
    for node in workflow["nodes"]:
        if node["type"] == "DVPipelineLoader":
            node["widgets_values"][0] = f"tiny-{tiny}"
    workflow_file = tmp_path / "workflow.json"
    workflow_file.write_text(json.dumps(workflow))
    return run_browser_script(browser_scripts, "editor.mjs", comfy.url, str(tmp_path), str(workflow_file))


def test_extension_loads_and_the_frame_helper_follows_the_family(comfy, browser_scripts, tmp_path):
    # LTX-Video: 8k+1 frames, sizes in multiples of 32 (finer than the widget's own step of 16).
    result = run_editor(comfy, browser_scripts, tmp_path, "ltx", "ltx_text_to_video")
    assert any(path.endswith("/diffusers_video.js") for path in result["extensions"]), result["extensions"]
    from diffusers_video import NODE_CLASS_MAPPINGS

    shown = {d["name"]: d for d in result["nodeDefs"]}
    assert set(shown) == set(NODE_CLASS_MAPPINGS)
    assert all(d["description"] and d["category"].startswith("DiffusersVideo/") for d in shown.values())
    assert result["before"]["family"] == "ltx" and result["before"]["frames"] == 161
    assert result["after"]["frames"] == 49  # 50 is not 8k+1: snapped to the nearest count LTX-Video makes
    assert "multiple of 32" in (result["after"]["widthLabel"] or "")  # 720 is not
    ours = [e for e in result["errors"] if not any(known in e for known in KNOWN_PAGE_ERRORS)
            and ("diffusers_video" in e or "/dv/" in e)]
    assert ours == []


def test_the_frame_helper_follows_the_variant(comfy, browser_scripts, tmp_path):
    """Wan2.2 TI2V-5B is a variant of Wan with sizes in multiples of 32 (Wan2.1: 16): the helper reads the
    variant from the folder's configs through /dv/model_family and flags 720, which Wan2.1 would take."""
    result = run_editor(comfy, browser_scripts, tmp_path, "wan22_ti2v_5b", "wan22_ti2v_5b_text_to_video")
    assert (result["before"]["family"], result["before"]["variant"]) == ("wan", "wan2.2-ti2v-5b")
    assert result["before"]["frames"] == 121 and result["before"]["widthLabel"] is None  # 1280 = 40 x 32
    assert result["after"]["frames"] == 49
    assert "Wan2.2 TI2V-5B: multiple of 32" in (result["after"]["widthLabel"] or "")
    ours = [e for e in result["errors"] if not any(known in e for known in KNOWN_PAGE_ERRORS)
            and ("diffusers_video" in e or "/dv/" in e)]
    assert ours == []
