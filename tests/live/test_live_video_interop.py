"""Core VIDEO and ours in a real ComfyUI: DVLoadVideo's VIDEO into core's Save Video, and core's Load Video
into DVVideoCombine, each a playable file with the workflow inside (on every ComfyUI generation tested)."""

from __future__ import annotations

import pytest

from .test_live_load_video import clip_bytes

pytestmark = pytest.mark.live

WORKFLOW = {"nodes": [{"id": 1, "type": "interop"}], "links": [], "version": 0.4}


def save_video_inputs(comfy, video_link: list, prefix: str) -> dict:
    """Core SaveVideo's inputs as this host declares them (0.33 made `format` a dynamic combo whose codec
    rides along as `format.codec`)."""
    spec = comfy.get_json("/object_info/SaveVideo")["SaveVideo"]["input"]
    inputs = {"video": video_link, "filename_prefix": prefix, "format": "auto"}
    required = spec.get("required", {})
    if "codec" in required:
        inputs["codec"] = "auto"
    if isinstance(required.get("format", [None])[0], str) and required["format"][0] == "COMFY_DYNAMICCOMBO_V3":
        inputs["format.codec"] = "auto"
    return inputs


def written(comfy, entry: dict) -> list:
    files = []
    for output in entry["outputs"].values():
        for item in output.get("images", []) + output.get("videos", []) + output.get("gifs", []):
            files.append(comfy.output / item.get("subfolder", "") / item["filename"])
    return files


def test_our_video_into_core_save_video(comfy, tmp_path):
    from diffusers_video.video_io.metadata import read_metadata
    from diffusers_video.video_io.reader import load_video

    (comfy.base / "input" / "interop_in.mp4").write_bytes(clip_bytes(tmp_path, 6))
    prompt = {
        "1": {"class_type": "DVLoadVideo", "inputs": {"video": "interop_in.mp4", "frame_load_cap": 0,
                                                      "skip_first_frames": 0, "select_every_nth": 1, "width": 0,
                                                      "height": 0}},
        "2": {"class_type": "SaveVideo", "inputs": save_video_inputs(comfy, ["1", 4], "interop/core")},
    }
    entry = comfy.run(prompt, WORKFLOW)
    files = [p for p in written(comfy, entry) if p.suffix in (".mp4", ".webm", ".mkv")]
    assert files and files[0].is_file(), entry["outputs"]
    loaded = load_video(str(files[0]))
    assert loaded.frame_count == 6 and loaded.fps == 8.0 and loaded.audio is not None
    assert read_metadata(str(files[0])).get("workflow") == WORKFLOW


def test_core_load_video_into_our_combiner(comfy, tmp_path):
    from diffusers_video.video_io.metadata import read_metadata
    from diffusers_video.video_io.reader import load_video

    (comfy.base / "input" / "interop_core.mp4").write_bytes(clip_bytes(tmp_path, 7))
    prompt = {
        "1": {"class_type": "LoadVideo", "inputs": {"file": "interop_core.mp4"}},
        "2": {"class_type": "DVVideoCombine", "inputs": {"video": ["1", 0], "fps": 8.0,
                                                         "filename_prefix": "interop/ours",
                                                         "format": "video/h264-mp4", "crf": 19, "loop_count": 0,
                                                         "pingpong": False, "save_output": True}},
    }
    entry = comfy.run(prompt, WORKFLOW)
    files = [p for p in written(comfy, entry) if p.suffix == ".mp4"]
    assert files and files[0].is_file(), entry["outputs"]
    loaded = load_video(str(files[0]))
    assert loaded.frame_count == 7 and loaded.fps == 8.0 and loaded.audio is not None
    metadata = read_metadata(str(files[0]))
    assert metadata["workflow"] == WORKFLOW and metadata["prompt"]["2"]["class_type"] == "DVVideoCombine"
