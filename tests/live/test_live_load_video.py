"""DVLoadVideo inside a real ComfyUI server: the upload widget core serves, a file uploaded the way the
frontend uploads it, re-queueing that reads the file only when it changed, and run-time errors."""

from __future__ import annotations

import json
import urllib.request
import uuid

import pytest

pytestmark = pytest.mark.live


def clip_bytes(tmp_path, frames: int, level_step: int = 20) -> bytes:
    """An mp4 with a tone under it, made with PyAV (the frames differ, so gif frame counts are exact)."""
    import av
    import numpy as np

    path = tmp_path / f"clip_{frames}.mp4"
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=8)
        video.width, video.height, video.pix_fmt = 32, 24, "yuv420p"
        sound = container.add_stream("aac", rate=16000)
        sound.layout = "mono"
        for i in range(frames):
            image = np.full((24, 32, 3), i * level_step, np.uint8)
            for packet in video.encode(av.VideoFrame.from_ndarray(image, "rgb24")):
                container.mux(packet)
        tone = (0.3 * np.sin(np.arange(frames * 2000) / 5)).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in [*sound.encode(frame), *sound.encode(None), *video.encode(None)]:
            container.mux(packet)
    return path.read_bytes()


def upload(comfy, name: str, data: bytes) -> dict:
    """POST /upload/image as the frontend's video upload widget does (multipart, overwrite)."""
    boundary = uuid.uuid4().hex
    body = b"".join([
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
        "Content-Type: video/mp4\r\n\r\n".encode(), data, b"\r\n",
        f'--{boundary}\r\nContent-Disposition: form-data; name="overwrite"\r\n\r\ntrue\r\n'.encode(),
        f'--{boundary}\r\nContent-Disposition: form-data; name="type"\r\n\r\ninput\r\n--{boundary}--\r\n'.encode(),
    ])
    request = urllib.request.Request(comfy.url + "/upload/image", data=body,
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def prompt_for(video: str, prefix: str) -> dict:
    return {
        "1": {"class_type": "DVLoadVideo", "inputs": {"video": video, "frame_load_cap": 0, "skip_first_frames": 0,
                                                      "select_every_nth": 1, "width": 0, "height": 0}},
        "2": {"class_type": "DVVideoCombine", "inputs": {"images": ["1", 0], "fps": ["1", 2], "filename_prefix": prefix,
                                                         "format": "image/gif", "crf": 19, "loop_count": 0,
                                                         "pingpong": False, "save_output": True}},
    }


def gif_frames(path) -> int:
    from PIL import Image

    with Image.open(path) as image:
        return image.n_frames


def cached_nodes(entry: dict) -> list[str]:
    return [node for kind, data in entry["status"]["messages"] if kind == "execution_cached"
            for node in data["nodes"]]


def test_load_video_is_served_with_core_upload_widget(comfy):
    spec = comfy.get_json("/object_info/DVLoadVideo")["DVLoadVideo"]
    video = spec["input"]["required"]["video"]
    assert video[1].get("video_upload") is True, video
    assert spec["output"] == ["IMAGE", "INT", "FLOAT", "AUDIO", "VIDEO"], spec["output"]


def test_uploaded_video_loads_and_requeue_rereads_only_a_changed_file(comfy, tmp_path):
    reply = upload(comfy, "dv_live_clip.mp4", clip_bytes(tmp_path, 8))
    assert reply["name"] == "dv_live_clip.mp4", reply
    listed = comfy.get_json("/object_info/DVLoadVideo")["DVLoadVideo"]["input"]["required"]["video"][0]
    assert "dv_live_clip.mp4" in listed, listed

    prompt = prompt_for("dv_live_clip.mp4", "dv_load/first")
    entry = comfy.run(prompt)
    written = entry["outputs"]["2"]["images"][0]
    assert gif_frames(comfy.output / written["subfolder"] / written["filename"]) == 8

    again = comfy.run(prompt)
    assert sorted(cached_nodes(again)) == ["1", "2"], again["status"]

    upload(comfy, "dv_live_clip.mp4", clip_bytes(tmp_path, 5, level_step=40))
    changed = comfy.run(prompt)
    assert "1" not in cached_nodes(changed), changed["status"]
    written = changed["outputs"]["2"]["images"][0]
    assert gif_frames(comfy.output / written["subfolder"] / written["filename"]) == 5


@pytest.mark.parametrize("video,problem", [
    ("dv_not_there.mp4", "input 'video': 'dv_not_there.mp4' does not exist"),
    # Leaving the folder gets the missing file's answer (issue 12: answers reveal no files outside).
    ("../escape.mp4", "input 'video': '../escape.mp4' does not exist, or is not in a folder this node may read"),
])
def test_bad_video_fails_naming_node_and_input(comfy, video, problem):
    status, reply = comfy.queue(prompt_for(video, "dv_load/bad"))
    assert status == 200 and reply.get("node_errors") == {}, reply
    entry = comfy.finished(reply["prompt_id"])
    errors = [data for kind, data in entry["status"]["messages"] if kind == "execution_error"]
    assert errors and errors[0]["node_type"] == "DVLoadVideo", entry["status"]
    assert errors[0]["exception_message"].startswith("DVLoadVideo: ") and problem in errors[0]["exception_message"]


def execution_error(comfy, prompt: dict) -> str:
    status, reply = comfy.queue(prompt)
    assert status == 200 and reply.get("node_errors") == {}, reply
    entry = comfy.finished(reply["prompt_id"])
    errors = [data for kind, data in entry["status"]["messages"] if kind == "execution_error"]
    assert errors, entry["status"]
    return errors[0]["exception_message"]


def test_a_path_outside_the_folders_is_answered_as_a_missing_one(comfy, tmp_path):
    """Issue 12: anyone who can POST /prompt must not read server files through DVLoadVideo and /view, nor
    learn which exist: a video outside the input/output/temp folders and a missing one get the same answer."""
    outside = tmp_path / "private.mp4"
    outside.write_bytes(clip_bytes(tmp_path, 3))
    prompt = prompt_for("ignored.mp4", "dv_load/outside")
    prompt["1"]["inputs"]["path"] = str(outside)
    before = set(comfy.output.rglob("*"))
    exists = execution_error(comfy, prompt)
    outside.unlink()
    assert execution_error(comfy, prompt) == exists
    assert exists.startswith("DVLoadVideo: input 'path': ") and "DV_ALLOWED_READ_DIRS" in exists
    assert set(comfy.output.rglob("*")) == before


def test_a_prefix_with_a_newline_is_refused_before_writing(comfy):
    upload(comfy, "dv_live_prefix.mp4", clip_bytes(comfy.output.parent, 3))
    before = set(comfy.output.rglob("*"))
    message = execution_error(comfy, prompt_for("dv_live_prefix.mp4", "dv_load/line\nbreak"))
    assert message.startswith("DVVideoCombine: input 'filename_prefix': ") and "a newline" in message
    assert set(comfy.output.rglob("*")) == before
