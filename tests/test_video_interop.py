"""Core VIDEO and ours, both ways: DVLoadVideo also gives one VIDEO (frames, rate and sound), DVVideoCombine also
takes one. Outside ComfyUI the VIDEO is host.StandaloneVideo (the same get_components()); inside, core's
VideoFromComponents (live tier: tests/live/test_live_video_interop.py)."""

from __future__ import annotations

import pytest
import torch
from diffusers_video import host
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.video import DVLoadVideo, DVVideoCombine
from diffusers_video.video_io.reader import load_video

F, H, W, FPS = 9, 24, 32, 12.0


def clip() -> torch.Tensor:
    y = torch.linspace(0, 1, H)[:, None]
    x = torch.linspace(0, 1, W)[None, :]
    return torch.stack([torch.stack([(x + t / F) % 1 + 0 * y, y + 0 * x, x * y], -1) for t in range(F)])


def tone(seconds: float = 1.0, rate: int = 44100) -> dict:
    t = torch.arange(int(seconds * rate)) / rate
    return {"waveform": (0.2 * torch.sin(2 * torch.pi * 440 * t))[None, None].repeat(1, 2, 1), "sample_rate": rate}


@pytest.fixture
def folders(tmp_path, monkeypatch):
    monkeypatch.setenv("DV_OUTPUT_DIR", str(tmp_path / "output"))
    monkeypatch.setenv("DV_INPUT_DIR", str(tmp_path / "input"))
    (tmp_path / "input").mkdir()
    return tmp_path


def combine(**inputs) -> str:
    return DVVideoCombine().combine(filename_prefix="interop", **inputs)["result"][0]


def test_load_video_gives_a_video_of_the_same_frames_rate_and_sound(folders):
    path = combine(images=clip(), fps=FPS, audio=tone())
    frames, count, fps, audio, video = DVLoadVideo().load("", 0, 0, 1, 0, 0, path)
    images, rate, sound = host.video_parts(video)
    assert torch.equal(images, frames) and rate == fps == FPS and count == F
    assert sound is audio and sound is not None


def test_combine_writes_a_video_with_its_own_rate_and_sound(folders):
    video = host.make_video(clip(), 24.0, tone())
    path = combine(video=video, fps=8.0)  # the widget's 8 fps is for 'images'; the VIDEO says 24
    loaded = load_video(path)
    assert loaded.fps == 24.0 and loaded.frame_count == F and loaded.audio is not None
    direct = load_video(combine(images=clip(), fps=24.0, audio=tone()))
    assert torch.equal(loaded.frames, direct.frames)


def test_bad_combinations_are_refused_by_name(folders):
    video = host.make_video(clip(), FPS, tone())
    cases = [({"images": clip(), "video": video}, "video", "both 'images' and a VIDEO"),
             ({"video": video, "audio": tone()}, "audio", "has its own sound"),
             ({}, "images", "neither 'images' nor a VIDEO"),
             ({"video": "clip.mp4"}, "video", "not a VIDEO")]
    for inputs, input_name, problem in cases:
        with pytest.raises(DVInputError, match=problem) as info:
            combine(**inputs)
        assert f"DVVideoCombine: input '{input_name}'" in str(info.value)


def test_a_fractional_rate_survives_as_a_fraction():
    images, rate, _ = host.video_parts(host.make_video(clip(), 30000 / 1001))
    assert abs(rate - 29.97002997) < 1e-6
