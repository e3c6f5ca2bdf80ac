"""DVLoadVideo: reads back what DVVideoCombine wrote, in every format; selection, resize, audio, caching
fingerprint and the errors a user can run into."""

from __future__ import annotations

import os
import shutil

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.video import DVLoadVideo, DVVideoCombine
from diffusers_video.video_io.formats import FORMATS

F, H, W, FPS = 10, 24, 32, 8.0
FPS_TOLERANCE = {"mp4": 1e-6, "webm": 1e-6, "webp": 0.05, "gif": 0.25}  # gif stores centiseconds, webp ms


def clip(frames: int = F) -> torch.Tensor:
    y = torch.linspace(0, 1, H)[:, None]
    x = torch.linspace(0, 1, W)[None, :]
    return torch.stack([torch.stack([(x + t / frames) % 1 + 0 * y, y + 0 * x, x * y], -1) for t in range(frames)])


@pytest.fixture
def folders(tmp_path, monkeypatch):
    monkeypatch.setenv("DV_OUTPUT_DIR", str(tmp_path / "output"))
    monkeypatch.setenv("DV_INPUT_DIR", str(tmp_path / "input"))
    (tmp_path / "input").mkdir()
    return tmp_path


def written(fmt: str, frames=None) -> str:
    frames = clip() if frames is None else frames
    return DVVideoCombine().combine(frames, FPS, "clip", fmt, 19, 0, False, True)["result"][0]


def load(video="", path="", cap=0, skip=0, nth=1, width=0, height=0):
    """DVLoadVideo's frames, count, fps and audio (its VIDEO output is checked in test_video_interop)."""
    return DVLoadVideo().load(video, cap, skip, nth, width, height, path)[:4]


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_reads_back_what_the_combiner_wrote(folders, fmt):
    path = written(fmt)
    frames, count, fps, audio = load(path=path)
    extension = FORMATS[fmt].extension
    assert frames.shape == (F, H, W, 3) and count == F
    assert abs(fps - FPS) <= FPS_TOLERANCE[extension] * FPS
    assert (frames - clip()).abs().mean() < 0.05
    assert audio is None


def test_from_the_input_folder_listing(folders):
    shutil.copy(written("video/h264-mp4"), folders / "input" / "walk.mp4")
    (folders / "input" / "notes.txt").write_text("not a video")
    choices, options = DVLoadVideo.INPUT_TYPES()["required"]["video"]
    assert choices == ["walk.mp4"] and options.get("video_upload") is True
    assert load("walk.mp4")[1] == F


def test_cap_skip_every_nth_and_fps(folders):
    path = written("video/h264-mp4")
    frames, count, fps, _ = load(path=path, cap=3, skip=2, nth=2)
    assert count == 3
    reference = load(path=path)[0]
    assert torch.equal(frames, reference[[2, 4, 6]])
    assert abs(fps - FPS / 2) < 1e-6


def test_resize_keeps_aspect_when_one_side_is_zero(folders):
    path = written("video/h264-mp4")
    assert load(path=path, width=16)[0].shape == (F, 12, 16, 3)
    assert load(path=path, width=64, height=40)[0].shape == (F, 40, 64, 3)


def test_audio_track_comes_out_as_comfy_audio(folders):
    import av
    import numpy as np

    path = str(folders / "input" / "with_sound.mp4")
    container = av.open(path, "w")
    video = container.add_stream("libx264", rate=8)
    video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
    sound = container.add_stream("aac", rate=16000)
    sound.layout = "stereo"
    for i in range(8):
        for packet in video.encode(av.VideoFrame.from_ndarray(np.full((32, 32, 3), i * 20, np.uint8), "rgb24")):
            container.mux(packet)
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype(np.float32)
    frame = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
    frame.sample_rate = 16000
    for packet in [*sound.encode(frame), *sound.encode(None), *video.encode(None)]:
        container.mux(packet)
    container.close()
    _, count, _, audio = load("with_sound.mp4")
    assert count == 8
    assert audio["sample_rate"] == 16000
    waveform = audio["waveform"]
    assert waveform.shape[:2] == (1, 2) and abs(waveform.shape[2] - 16000) < 2048  # codec priming/padding
    assert 0.3 < waveform.abs().max().item() < 0.7


def test_fingerprint_changes_with_the_file_only(folders):
    target = folders / "input" / "clip.gif"
    shutil.copy(written("image/gif"), target)
    first = DVLoadVideo.IS_CHANGED("clip.gif", frame_load_cap=0)
    assert DVLoadVideo.IS_CHANGED("clip.gif", frame_load_cap=0) == first
    shutil.copy(written("image/gif", clip(4)), target)
    os.utime(target, ns=(os.stat(target).st_atime_ns, os.stat(target).st_mtime_ns + 1_000_000))
    assert DVLoadVideo.IS_CHANGED("clip.gif", frame_load_cap=0) != first
    assert load("clip.gif")[1] == 4


def test_unreadable_file_is_named(folders):
    (folders / "input" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a movie")
    with pytest.raises(DVInputError, match="'broken.mp4' could not be read as a video") as info:
        load("broken.mp4")
    assert "DVLoadVideo" in str(info.value) and "video" in str(info.value)


def test_missing_unsupported_and_escaping_names(folders):
    with pytest.raises(DVInputError, match="does not exist"):
        load("gone.mp4")
    with pytest.raises(DVInputError, match="does not exist") as info:
        load(path="/nowhere/clip.mp4")
    assert "path" in str(info.value)
    (folders / "input" / "still.png").write_bytes(b"png")
    with pytest.raises(DVInputError, match="not a video format"):
        load(path="still.png")
    # Leaving the folder gets the answer a missing file gets (issue 12: answers reveal no files outside).
    with pytest.raises(DVInputError, match="does not exist, or is not in a folder this node may read"):
        load("../outside.mp4")


# ------------------------------------------------------------------------------------------------------------
# Containers other than the combiner's, audio alignment, phone rotation, selection on the Pillow path


def muxed(path, frames: int = 16, fps: int = 8, audio_codec: str | None = "pcm_s16le", rate: int = 16000,
          size: tuple[int, int] = (32, 24)):
    """A PyAV-written clip whose frame i is flat grey i*15, with a stereo tone (left 440 Hz, right 660 Hz at
    half level) under it: returns the tone as written [2, samples]."""
    import av
    import numpy as np

    container = av.open(str(path), "w")
    video = container.add_stream("libx264", rate=fps)
    video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
    sound = None
    if audio_codec:
        sound = container.add_stream(audio_codec, rate=rate)
        sound.layout = "stereo"
    for i in range(frames):
        image = np.full((size[1], size[0], 3), i * 15, np.uint8)
        for packet in video.encode(av.VideoFrame.from_ndarray(image, "rgb24")):
            container.mux(packet)
    t = np.arange(frames * rate // fps) / rate
    tone = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.25 * np.sin(2 * np.pi * 660 * t)]).astype(np.float32)
    if sound is not None:
        source = (tone * 32767).round().astype(np.int16) if audio_codec == "pcm_s16le" else tone
        for start in range(0, tone.shape[1], 1024):
            chunk = np.ascontiguousarray(source[:, start:start + 1024])
            if audio_codec == "pcm_s16le":  # packed s16: [1, samples * channels]
                frame = av.AudioFrame.from_ndarray(chunk.T.reshape(1, -1), format="s16", layout="stereo")
            else:
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = rate, start
            for packet in sound.encode(frame):
                container.mux(packet)
        for packet in sound.encode(None):
            container.mux(packet)
    for packet in video.encode(None):
        container.mux(packet)
    container.close()
    return tone


def grey_levels(frames: torch.Tensor) -> list[int]:
    return [round(v / 15) for v in (frames.mean(dim=(1, 2, 3)) * 255).tolist()]


def test_mov_with_audio_reads_back_and_audio_follows_the_selected_frames(folders):
    tone = muxed(folders / "input" / "take.mov")
    frames, count, fps, audio = load("take.mov")
    assert (count, tuple(frames.shape[1:]), fps) == (16, (24, 32, 3), 8.0)
    assert grey_levels(frames) == list(range(16))
    assert audio["sample_rate"] == 16000 and audio["waveform"].dtype == torch.float32
    assert audio["waveform"].shape == (1, 2, 32000)
    assert (audio["waveform"][0] - torch.from_numpy(tone)).abs().max() < 1e-4  # pcm: only s16 rounding

    # Frames 4, 6, 8 (0.5 s .. 1.25 s): the audio is that stretch, so it stays in sync when re-muxed.
    frames, count, fps, audio = load("take.mov", cap=3, skip=4, nth=2)
    assert grey_levels(frames) == [4, 6, 8] and fps == 4.0
    assert audio["waveform"].shape == (1, 2, 12000)
    assert (audio["waveform"][0] - torch.from_numpy(tone[:, 8000:20000])).abs().max() < 1e-4


def test_aac_mp4_audio_is_comfy_audio_with_the_tone(folders):
    import numpy as np

    muxed(folders / "input" / "aac.mp4", audio_codec="aac", rate=44100)
    _, count, _, audio = load("aac.mp4")
    waveform = audio["waveform"]
    assert count == 16 and audio["sample_rate"] == 44100 and waveform.shape[:2] == (1, 2)
    assert abs(waveform.shape[2] - 2 * 44100) < 2048  # aac frames of 1024 samples
    spectrum = np.abs(np.fft.rfft(waveform[0, :, 4410:4410 + 44100].numpy(), axis=1))
    assert spectrum.argmax(axis=1).tolist() == [440, 660]  # 1 s window: bin = Hz


def test_file_without_audio_gives_none(folders):
    muxed(folders / "input" / "silent.mkv", audio_codec=None)
    frames, count, _, audio = load("silent.mkv")
    assert count == 16 and audio is None


@pytest.mark.parametrize("fmt", ["image/gif", "video/vp9-webm"])
def test_cap_skip_every_nth_on_each_decoder(folders, fmt):
    levels = torch.arange(F, dtype=torch.float32)[:, None, None, None] * 15 / 255
    path = written(fmt, levels.expand(F, H, W, 3).contiguous())
    frames, count, fps, _ = load(path=path, cap=2, skip=1, nth=3)
    assert grey_levels(frames) == [1, 4] and count == 2
    assert abs(fps - FPS / 3) <= 0.25 * FPS / 3
    assert grey_levels(load(path=path, skip=7, nth=2)[0]) == [7, 9]  # no cap: to the end


def test_skipping_past_the_end_names_the_frame_count(folders):
    path = written("image/gif")
    with pytest.raises(DVInputError, match=r"input 'skip_first_frames'.*has 10\. Valid: 0\.\.9\."):
        load(path=path, skip=10)


@pytest.mark.parametrize("fmt", ["image/webp", "video/h264-mp4"])
def test_resize_on_each_decoder(folders, fmt):
    path = written(fmt)
    assert load(path=path, height=12)[0].shape == (F, 12, 16, 3)
    small = load(path=path, width=16, height=16)[0]
    assert small.shape == (F, 16, 16, 3) and 0 <= small.min() and small.max() <= 1
    # Flat pictures stay flat: the resampling is a filter, not a crop.
    levels = torch.linspace(0.3, 0.7, F)[:, None, None, None]
    flat = load(path=written(fmt, levels.expand(F, H, W, 3).contiguous()), width=64, height=48)[0]
    assert flat.shape == (F, 48, 64, 3) and (flat - levels).abs().max() < 0.02


@pytest.mark.parametrize("fmt", ["image/gif", "image/webp"])
def test_frames_the_encoder_merged_come_back(folders, fmt):
    """gif and webp encoders store identical consecutive frames as one longer frame."""
    levels = torch.tensor([0, 1, 2, 2, 2, 2, 3, 4, 4, 5], dtype=torch.float32)[:, None, None, None] * 30 / 255
    frames, count, fps, _ = load(path=written(fmt, levels.expand(F, H, W, 3).contiguous()))
    assert count == F and abs(fps - FPS) <= 0.25 * FPS
    assert [round(v / 30) for v in (frames.mean(dim=(1, 2, 3)) * 255).tolist()] == [0, 1, 2, 2, 2, 2, 3, 4, 4, 5]
    frames, count, _, _ = load(path=written(fmt, levels.expand(F, H, W, 3).contiguous()), skip=3, nth=2, cap=3)
    assert [round(v / 30) for v in (frames.mean(dim=(1, 2, 3)) * 255).tolist()] == [2, 2, 4]


def test_phone_video_comes_out_upright_like_ffmpeg_shows_it(folders):
    import subprocess

    import imageio_ffmpeg
    import numpy as np

    source = written("video/h264-mp4")
    rotated = str(folders / "input" / "portrait.mp4")
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    subprocess.run([ffmpeg, "-v", "error", "-y", "-display_rotation", "90", "-i", source, "-c", "copy", rotated],
                   check=True)
    shown = subprocess.run([ffmpeg, "-v", "error", "-i", rotated, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                           check=True, capture_output=True).stdout  # ffmpeg autorotates by default
    reference = torch.from_numpy(np.frombuffer(shown, np.uint8).reshape(F, W, H, 3).astype(np.float32) / 255)
    frames = load("portrait.mp4")[0]
    assert frames.shape == (F, W, H, 3)
    assert (frames - reference).abs().mean() < 0.01
    assert load("portrait.mp4", width=12)[0].shape == (F, 16, 12, 3)  # sizes are the upright ones


# ------------------------------------------------------------------------------------------------------------
# Re-queueing, names and errors


def test_fingerprint_sees_a_replacement_that_kept_size_and_mtime(folders):
    target = folders / "input" / "clip.mp4"
    shutil.copy(written("video/h264-mp4"), target)
    first = DVLoadVideo.IS_CHANGED("clip.mp4", frame_load_cap=0, skip_first_frames=3, path="")
    assert DVLoadVideo.IS_CHANGED("clip.mp4", frame_load_cap=5, path="") == first  # widgets are ComfyUI's part
    before = os.stat(target)
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))  # same size
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # as cp -p / rsync -t leave it
    assert os.stat(target).st_size == before.st_size and os.stat(target).st_mtime_ns == before.st_mtime_ns
    assert DVLoadVideo.IS_CHANGED("clip.mp4", path="") != first
    assert DVLoadVideo.IS_CHANGED("gone.mp4") != DVLoadVideo.IS_CHANGED("gone.mp4")  # NaN: runs, shows its error


def test_requeue_reads_an_unchanged_file_once_and_a_changed_one_again(folders):
    from diffusers_video.nodes import NODE_CLASS_MAPPINGS
    from diffusers_video.runner.executor import Executor

    target = folders / "input" / "clip.webm"
    shutil.copy(written("video/vp9-webm"), target)
    prompt = {
        "1": {"class_type": "DVLoadVideo", "inputs": {"video": "clip.webm", "frame_load_cap": 0,
                                                      "skip_first_frames": 0, "select_every_nth": 1,
                                                      "width": 0, "height": 0}},
        "2": {"class_type": "DVVideoCombine", "inputs": {"images": ["1", 0], "fps": ["1", 2], "filename_prefix": "re",
                                                         "format": "image/gif", "crf": 19, "loop_count": 0,
                                                         "pingpong": False, "save_output": True}},
    }
    executor = Executor(NODE_CLASS_MAPPINGS)
    assert "1" in executor.run(prompt).executed
    assert "1" in executor.run(prompt).cached
    shutil.copy(written("video/vp9-webm", clip(4)), target)
    again = executor.run(prompt)
    assert "1" in again.executed and "2" in again.executed


def test_output_and_annotated_names_and_absolute_paths(folders):
    path = written("image/webp")
    assert load(f"{os.path.basename(path)} [output]")[1] == F  # core's annotated names, as core's LoadVideo
    assert load("anything.mp4", path=path)[1] == F  # a path wins over the list
    assert DVLoadVideo.VALIDATE_INPUTS("not-here.mp4", path) is True


@pytest.mark.parametrize("video,path", [
    ("../outside.mp4", ""), ("sub/../../outside.mp4", ""), ("/etc/outside.mp4", ""), ("../x.mp4 [output]", ""),
    ("", "../outside.mp4"),
])
def test_names_leaving_their_folder_are_refused(folders, video, path):
    (folders / "outside.mp4").write_bytes(b"")
    with pytest.raises(DVInputError, match="does not exist, or is not in a folder this node may read") as info:
        load(video, path=path)
    assert f"DVLoadVideo: input '{'path' if path else 'video'}'" in str(info.value)


def test_missing_file_is_named_with_where_it_was_looked_for(folders):
    with pytest.raises(DVInputError) as info:
        load("holiday.mp4")
    assert "input 'video': 'holiday.mp4' does not exist" in str(info.value)
    assert str(folders / "input" / "holiday.mp4") in str(info.value)
    with pytest.raises(DVInputError, match="input 'video': no video chosen"):
        load("")


@pytest.mark.parametrize("name,content,why", [
    ("empty.webm", b"", "could not be read as a video"),
    ("noise.mov", bytes(range(256)) * 64, "could not be read as a video"),
    ("noise.gif", b"GIF89a" + bytes(range(256)) * 4, "could not be read as a video"),
    ("text.webp", b"RIFF\x10\x00\x00\x00WEBPVP8 nonsense", "could not be read as a video"),
    ("notes.txt", b"hello", "is not a video format this node reads"),
])
def test_unreadable_and_unsupported_files_get_a_named_error(folders, name, content, why):
    (folders / "input" / name).write_bytes(content)
    with pytest.raises(DVInputError, match=why) as info:
        load(name)
    assert str(info.value).startswith("DVLoadVideo: input 'video': ") and "Valid:" in str(info.value)
    assert "Traceback" not in str(info.value)


def test_a_file_with_only_sound_is_not_a_video(folders):
    import av
    import numpy as np

    path = folders / "input" / "voice.mp4"
    with av.open(str(path), "w") as container:
        sound = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in [*sound.encode(frame), *sound.encode(None)]:
            container.mux(packet)
    with pytest.raises(DVInputError, match="no video track"):
        load("voice.mp4")
