"""Writing frames to a video file that never overwrites another and is never left half-written."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ..errors import DVInputError
from . import metadata as meta
from .formats import VideoFormat

NODE = "DVVideoCombine"


@dataclass
class SavedVideo:
    path: str
    filename: str
    subfolder: str
    frame_count: int
    width: int
    height: int
    fps: float
    notes: list[str] = field(default_factory=list)


def split_prefix(output_dir: str, filename_prefix: str) -> tuple[str, str, str]:
    """(folder, subfolder, name) for a prefix like "CogVideoX/t2v", refusing one that leaves output_dir."""
    prefix = filename_prefix.strip() or "DiffusersVideo"
    subfolder, name = os.path.split(os.path.normpath(prefix))
    root = os.path.abspath(output_dir)
    folder = os.path.abspath(os.path.join(root, subfolder))
    if os.path.isabs(prefix) or os.path.commonpath([root, folder]) != root or not name or name in (".", ".."):
        raise DVInputError("filename_prefix", f"'{filename_prefix}' would write outside the output folder.",
                           "a name, optionally with subfolders inside the output folder (e.g. 'CogVideoX/run').")
    return folder, os.path.relpath(folder, root) if folder != root else "", name


def next_counter(folder: str, name: str, extension: str) -> int:
    pattern = re.compile(rf"^{re.escape(name)}_(\d+)\.{re.escape(extension)}$")
    counters = [int(m.group(1)) for f in os.listdir(folder) if (m := pattern.match(f))] if os.path.isdir(folder) else []
    return max(counters, default=0) + 1


def to_uint8_frames(images) -> Any:
    """[F, H, W, C] float 0..1 -> uint8 numpy RGB, converted once."""
    import numpy as np
    import torch

    frames = images[..., :3].clamp(0, 1).mul(255).round().to(torch.uint8)
    return np.ascontiguousarray(frames.cpu().numpy())


def frame_order(count: int, pingpong: bool) -> list[int]:
    """Frame indices to write: forward, then back without repeating either end frame."""
    order = list(range(count))
    return order + order[-2:0:-1] if pingpong and count > 2 else order


def _even_pad(frame, width: int, height: int):
    """Replicate the last row/column to reach even sizes for yuv420p (black bars would show at the edge)."""
    import numpy as np

    pad_h, pad_w = height - frame.shape[0], width - frame.shape[1]
    return np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge") if pad_h or pad_w else frame


def _audio_wav(audio: dict, seconds: float) -> str:
    """ComfyUI AUDIO ({"waveform": [B, C, S] float, "sample_rate"}) as a 16-bit WAV file, cut to the
    video's length (ffmpeg's -shortest would cut the video instead when the sound is shorter)."""
    import wave

    import numpy as np

    rate = int(audio["sample_rate"])
    waveform = audio["waveform"][0].float().clamp(-1, 1)[:, : max(1, round(seconds * rate))]
    pcm = (waveform.cpu().numpy().T * 32767).round().astype(np.int16)  # interleaved [samples, channels]
    handle = tempfile.NamedTemporaryFile(suffix=".wav", delete=False)
    handle.close()
    with wave.open(handle.name, "wb") as out:
        out.setnchannels(pcm.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.ascontiguousarray(pcm).tobytes())
    return handle.name


def _write_ffmpeg(tmp_path: str, fmt: VideoFormat, frames: Iterator, width: int, height: int, fps: float,
                  crf: int, values: dict[str, str], audio_file: str | None = None) -> None:
    import imageio_ffmpeg

    rate = Fraction(fps).limit_denominator(1001000)
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate",
               f"{rate.numerator}/{rate.denominator}", "-i", "-"]
    # Inputs: 0 the frames, 1 the metadata file, 2 the sound. The metadata is mapped from its own input, so
    # muxing audio cannot drop the workflow (what users lose in other packs when sound is added).
    meta_file = tempfile.NamedTemporaryFile("w", suffix=".ffmeta", delete=False, encoding="utf-8")
    meta_file.write(meta.ffmetadata(values))
    meta_file.close()
    command += ["-f", "ffmetadata", "-i", meta_file.name]
    if audio_file:
        command += ["-i", audio_file]
    command += ["-map_metadata", "1", "-map", "0:v"]  # output options follow every input
    if audio_file:
        command += ["-map", "2:a", *fmt.audio_codec_args]
    command += [arg.replace("{crf}", str(crf)) for arg in fmt.codec_args]
    command += ["-pix_fmt", fmt.pixel_format, "-f", fmt.muxer, tmp_path]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        try:
            for frame in frames:
                process.stdin.write(frame.tobytes())
        except BrokenPipeError:
            pass  # ffmpeg stopped early: its own message below says why
        process.stdin.close()
        error = process.stderr.read().decode(errors="replace")
        if process.wait() != 0:
            raise RuntimeError(f"{NODE}: ffmpeg could not write the {fmt.name} file: {error.strip()}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.remove(meta_file.name)


def _write_pillow(tmp_path: str, fmt: VideoFormat, frames: Iterator, fps: float, loop_count: int,
                  values: dict[str, str]) -> None:
    import json

    from PIL import Image

    images = [Image.fromarray(frame) for frame in frames]
    duration = max(round(1000 / fps), 1)
    options: dict[str, Any] = {"save_all": True, "append_images": images[1:], "duration": duration,
                               "loop": loop_count}
    if fmt.extension == "webp":
        options.update(quality=90, method=4)
        if values:
            options["exif"] = meta.exif_for(values)
        images[0].save(tmp_path, format="WEBP", **options)
    else:
        if values:
            options["comment"] = json.dumps({k: json.loads(v) for k, v in values.items()})
        images[0].save(tmp_path, format="GIF", disposal=2, optimize=False, **options)


def _write_companion_png(video_path: str, first_frame, values: dict[str, str]) -> None:
    """The first frame as <video name>.png with prompt/workflow as PNG text chunks (core SaveImage's layout).
    Written to a hidden name and linked into place like the video; an existing file is never replaced."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for key, text in values.items():
        info.add_text(key, text)
    target = os.path.splitext(video_path)[0] + ".png"
    tmp = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.{os.getpid()}.partial.png")
    try:
        Image.fromarray(first_frame).save(tmp, pnginfo=info, compress_level=4)
        try:
            os.link(tmp, target)
        except FileExistsError:
            pass  # a file of that name is someone else's: the gif keeps its comment metadata either way
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_video(images, output_dir: str, filename_prefix: str, fmt: VideoFormat, fps: float, crf: int = 19,
                loop_count: int = 0, pingpong: bool = False, prompt: dict | None = None,
                extra_pnginfo: dict | None = None, audio: dict | None = None) -> SavedVideo:
    """Write IMAGE frames [F, H, W, C] (0..1) as one video file named <prefix>_<counter>.<ext>."""
    folder, subfolder, name = split_prefix(output_dir, filename_prefix)
    raw = to_uint8_frames(images)
    count, height, width = raw.shape[0], raw.shape[1], raw.shape[2]
    notes = []
    out_w, out_h = width, height
    if fmt.even_size and (width % 2 or height % 2):
        out_w, out_h = width + width % 2, height + height % 2
        notes.append(f"{width}x{height} padded to {out_w}x{out_h} (yuv420p needs even sizes; the last "
                     "row/column is repeated).")
    order = frame_order(count, pingpong)
    frames = (_even_pad(raw[i], out_w, out_h) for i in order)
    values = meta.entries(prompt, extra_pnginfo)
    if fmt.crf_range and not fmt.crf_range[0] <= crf <= fmt.crf_range[1]:
        raise DVInputError("crf", f"{crf} is outside {fmt.name}'s range.",
                           f"{fmt.crf_range[0]}..{fmt.crf_range[1]} (lower is better quality).")

    os.makedirs(folder, exist_ok=True)
    # Written under a hidden temporary name in the same folder, then published with os.link, which fails
    # instead of replacing an existing file: an interrupted write leaves nothing, and two runs racing for
    # the same counter both keep their files.
    tmp_path = os.path.join(folder, f".{name}.{os.getpid()}.partial.{fmt.extension}")
    audio_file = None
    if audio is not None and not fmt.audio_codec_args:
        notes.append(f"{fmt.extension} files carry no sound; the audio input was left out.")
    elif audio is not None:
        audio_file = _audio_wav(audio, len(order) / fps)
    try:
        if fmt.backend == "ffmpeg":
            _write_ffmpeg(tmp_path, fmt, frames, out_w, out_h, fps, crf, values, audio_file)
        else:
            _write_pillow(tmp_path, fmt, frames, fps, loop_count, values)
        counter = next_counter(folder, name, fmt.extension)
        while True:
            filename = f"{name}_{counter:05}.{fmt.extension}"
            try:
                os.link(tmp_path, os.path.join(folder, filename))
                break
            except FileExistsError:
                counter += 1
    finally:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        if audio_file:
            os.remove(audio_file)
    if fmt.companion_png and values:
        _write_companion_png(os.path.join(folder, filename), raw[order[0]], values)
    return SavedVideo(os.path.join(folder, filename), filename, subfolder, len(order), out_w, out_h, fps, notes)
