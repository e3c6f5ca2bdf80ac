"""DVVideoCombine: real files read back, metadata round trips, no overwrites, no partial files."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.video import DVVideoCombine
from diffusers_video.video_io import writer
from diffusers_video.video_io.formats import FORMATS
from diffusers_video.video_io.metadata import read_metadata
from diffusers_video.video_io.reader import read_video

F, H, W = 12, 48, 64
PROMPT = {"1": {"class_type": "DVSampler", "inputs": {"text": "tricky = ; # \\ chars\nand a newline"}}}
# Over 128 KiB: more than one command-line argument may carry on Linux, so metadata must go through a file.
WORKFLOW = {"nodes": [{"id": 1, "type": "DVSampler", "widgets_values": ["x" * 200_000]}], "links": []}
FPS_TOLERANCE = {"mp4": 1e-6, "webm": 1e-6, "webp": 0.05, "gif": 0.25}  # gif stores centiseconds, webp ms


def clip(frames: int = F, height: int = H, width: int = W) -> torch.Tensor:
    y = torch.linspace(0, 1, height)[:, None]
    x = torch.linspace(0, 1, width)[None, :]
    return torch.stack([torch.stack([(x + t / frames) % 1 + 0 * y, y + 0 * x, x * y], -1) for t in range(frames)])


@pytest.fixture
def output_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("DV_OUTPUT_DIR", str(tmp_path / "output"))
    monkeypatch.setenv("DV_DISABLE_METADATA", "0")
    return tmp_path / "output"


def combine(images=None, fmt="video/h264-mp4", fps=7.5, prefix="DiffusersVideo", pingpong=False, save=True,
            prompt=PROMPT, workflow=WORKFLOW):
    images = clip() if images is None else images
    return DVVideoCombine().combine(images, fps, prefix, fmt, 19, 0, pingpong, save, prompt, {"workflow": workflow})


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_file_reads_back_with_frames_size_fps_and_workflow(output_dir, fmt):
    result = combine(fmt=fmt)
    path = result["result"][0]
    extension = FORMATS[fmt].extension
    assert os.path.dirname(path) == str(output_dir)
    assert result["ui"] == {"images": [{"filename": f"DiffusersVideo_00001.{extension}", "subfolder": "",
                                        "type": "output"}], "animated": (True,)}
    frames, fps = read_video(path)
    assert frames.shape == (F, H, W, 3)
    assert abs(fps - 7.5) <= FPS_TOLERANCE[extension] * 7.5
    assert (frames - clip()).abs().mean() < 0.03  # lossy codecs, but the same picture
    assert read_metadata(path) == {"prompt": PROMPT, "workflow": WORKFLOW}


def test_second_run_never_overwrites(output_dir):
    first = combine(prefix="runs/clip")["result"][0]
    digest = hashlib.sha256(open(first, "rb").read()).hexdigest()
    second = combine(images=clip() * 0.5, prefix="runs/clip")["result"][0]
    assert os.path.basename(first) == "clip_00001.mp4" and os.path.basename(second) == "clip_00002.mp4"
    assert hashlib.sha256(open(first, "rb").read()).hexdigest() == digest
    assert sorted(os.listdir(output_dir / "runs")) == ["clip_00001.mp4", "clip_00002.mp4"]


def test_counter_race_keeps_both_files(output_dir, monkeypatch):
    """Another process takes counter 1 between the scan and the publish: ours becomes 2, theirs stays."""
    os.makedirs(output_dir, exist_ok=True)
    original = writer.next_counter

    def stale_counter(folder, name, extension):
        counter = original(folder, name, extension)
        (output_dir / f"{name}_{counter:05}.{extension}").write_bytes(b"theirs")
        return counter

    monkeypatch.setattr(writer, "next_counter", stale_counter)
    path = combine()["result"][0]
    assert os.path.basename(path) == "DiffusersVideo_00002.mp4"
    assert (output_dir / "DiffusersVideo_00001.mp4").read_bytes() == b"theirs"


def test_failed_write_leaves_nothing(output_dir, monkeypatch):
    def broken(*args, **kwargs):
        open(args[0], "wb").write(b"half a video")  # the encoder got this far, then failed
        raise RuntimeError("encoder failed")

    monkeypatch.setattr(writer, "_write_ffmpeg", broken)
    with pytest.raises(RuntimeError):
        combine()
    assert not output_dir.exists() or os.listdir(output_dir) == []


def test_odd_size_is_padded_for_yuv420(output_dir, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="DiffusersVideo"):
        path = combine(images=clip(height=47, width=65))["result"][0]
    frames, _ = read_video(path)
    assert frames.shape == (F, 48, 66, 3)
    assert "65x47 padded to 66x48" in caplog.text


def test_pingpong_plays_back_without_repeating_the_ends(output_dir):
    frames, _ = read_video(combine(fmt="image/gif", pingpong=True)["result"][0])
    assert frames.shape[0] == 2 * F - 2


def test_metadata_can_be_disabled(output_dir, monkeypatch):
    monkeypatch.setenv("DV_DISABLE_METADATA", "1")
    assert read_metadata(combine()["result"][0]) == {}


def test_preview_only_goes_to_temp(output_dir, tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    os.makedirs(tmp_path / "tmp")
    result = combine(save=False)
    assert result["ui"]["images"][0]["type"] == "temp"
    assert result["result"][0].startswith(str(tmp_path / "tmp"))
    assert not output_dir.exists()


@pytest.mark.parametrize("kwargs,input_name", [
    ({"images": torch.zeros(0, H, W, 3)}, "images"),
    ({"images": torch.zeros(H, W, 3)}, "images"),
    ({"fps": 0.0}, "fps"),
    ({"prefix": "../escape"}, "filename_prefix"),
    ({"prefix": "/etc/escape"}, "filename_prefix"),
])
def test_bad_input_is_named(output_dir, kwargs, input_name):
    with pytest.raises(DVInputError) as info:
        combine(**kwargs)
    assert f"DVVideoCombine: input '{input_name}'" in str(info.value)


def test_gif_gets_a_png_beside_it_that_carries_the_workflow(output_dir):
    """ComfyUI's frontend reads no workflow from a gif; the PNG of its first frame restores the graph."""
    from PIL import Image

    gif = combine(fmt="image/gif")["result"][0]
    png = os.path.splitext(gif)[0] + ".png"
    with Image.open(png) as image:
        assert image.size == (W, H)
        assert json.loads(image.text["workflow"]) == WORKFLOW and json.loads(image.text["prompt"]) == PROMPT
    again = combine(fmt="image/gif")["result"][0]
    assert again != gif and os.path.isfile(os.path.splitext(again)[0] + ".png")
    pngs = sorted(p.name for p in output_dir.glob("*.png"))
    assert len(pngs) == 2
    for fmt in ("video/h264-mp4", "video/vp9-webm", "image/webp"):  # their own metadata restores them
        combine(fmt=fmt)
    assert sorted(p.name for p in output_dir.glob("*.png")) == pngs


def test_no_png_when_metadata_is_off(output_dir, monkeypatch):
    monkeypatch.setenv("DV_DISABLE_METADATA", "1")
    gif = combine(fmt="image/gif")["result"][0]
    assert not os.path.exists(os.path.splitext(gif)[0] + ".png")


@pytest.mark.parametrize("fmt", ["video/h264-mp4", "video/vp9-webm"])
def test_audio_is_muxed_and_the_workflow_survives(output_dir, fmt):
    from diffusers_video.nodes.video import DVLoadVideo

    rate = 16000
    tone = torch.sin(torch.arange(rate * 4) / rate * 2 * torch.pi * 440)[None, None].repeat(1, 2, 1) * 0.5
    path = DVVideoCombine().combine(clip(), 8.0, "sound", fmt, 19, 0, False, True, PROMPT, {"workflow": WORKFLOW},
                                    audio={"waveform": tone, "sample_rate": rate})["result"][0]
    assert read_metadata(path) == {"prompt": PROMPT, "workflow": WORKFLOW}
    frames, count, fps, audio, _ = DVLoadVideo().load("", 0, 0, 1, 0, 0, path)
    assert count == F and audio is not None and audio["waveform"].shape[1] == 2
    seconds = audio["waveform"].shape[2] / audio["sample_rate"]
    assert abs(seconds - F / 8.0) < 0.1  # cut to the video's 1.5 s, not the 4 s given
    assert audio["waveform"].abs().max() > 0.2


def test_audio_on_a_silent_format_is_left_out_with_a_note(output_dir, caplog):
    import logging

    tone = torch.zeros(1, 1, 8000)
    with caplog.at_level(logging.INFO, logger="DiffusersVideo"):
        path = DVVideoCombine().combine(clip(), 8.0, "silent", "image/webp", 19, 0, False, True, PROMPT,
                                        {"workflow": WORKFLOW}, audio={"waveform": tone, "sample_rate": 8000})
    assert os.path.isfile(path["result"][0])
    assert "carry no sound" in caplog.text


def test_audio_that_is_not_audio_is_refused(output_dir):
    with pytest.raises(DVInputError, match="not ComfyUI AUDIO") as info:
        DVVideoCombine().combine(clip(), 8.0, "x", "video/h264-mp4", 19, 0, False, True, audio=torch.zeros(3))
    assert "audio" in str(info.value)
