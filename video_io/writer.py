"""Writing frames to a video file that never overwrites another and is never left half-written."""

from __future__ import annotations

import os
import re
import shutil
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


MAX_NAME_PART = 200  # characters in one folder or file name of a prefix (the OS allows 255 bytes, less the counter)
WINDOWS_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                              *(f"LPT{i}" for i in range(1, 10))})
VALID_PREFIX = ("a file name of printable characters, optionally with subfolders inside the output folder (e.g. "
                f"'CogVideoX/run'): each part at most {MAX_NAME_PART} characters, not ending in a dot or a space, and "
                "not a name Windows reserves (CON, PRN, AUX, NUL, COM1-COM9, LPT1-LPT9).")
# What the longest name written for a prefix adds to its last part: the companion PNG's hidden temporary name,
# ".<name>_<counter>.png.<pid>.partial.png".
_NAME_OVERHEAD = len("._00000.png.") + 10 + len(".partial.png")


def _shown(prefix: str) -> str:
    text = repr(prefix)
    return text if len(text) <= 80 else text[:60] + "...' (" + str(len(prefix)) + " characters)"


# Characters that reorder how a name is displayed ("run\u202egif.exe" shows as "runexe.fig"): refused, as
# they only ever disguise a name. (Other format characters, e.g. the zero-width joiner, are real text.)
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def check_prefix(filename_prefix: str, root: str | None = None) -> None:
    """Refuse, with a DVInputError on 'filename_prefix', a prefix whose files could not be written and served
    on every OS ComfyUI runs on: control characters (newline, tab, NUL, ...), a folder or file name over
    MAX_NAME_PART characters or the OS's limits, Windows' reserved names, names ending in a dot or space.
    Both the video writer and the latent writer call this (through split_prefix) before any work starts."""
    import unicodedata

    def refuse(problem: str) -> None:
        raise DVInputError("filename_prefix", f"{_shown(filename_prefix)} {problem}", VALID_PREFIX)

    if not isinstance(filename_prefix, str):
        raise DVInputError("filename_prefix", f"got {type(filename_prefix).__name__}, not text.", VALID_PREFIX)
    for position, char in enumerate(filename_prefix):
        if unicodedata.category(char) in ("Cc", "Cs") or char in "\u2028\u2029":
            what = {"\0": "a NUL byte", "\n": "a newline", "\r": "a carriage return", "\t": "a tab"}.get(
                char, f"the control character U+{ord(char):04X}")
            refuse(f"contains {what} (at position {position}).")
        if char in BIDI_CONTROLS:
            refuse(f"contains the bidirectional control U+{ord(char):04X} (at position {position}), which can make a "
                   "name show another extension than it has.")
    parts = [part for part in re.split(r"[\\/]", filename_prefix.strip()) if part]
    for part in parts:
        if len(part) > MAX_NAME_PART:
            refuse(f"has a name part of {len(part)} characters.")
        if part not in (".", "..") and part[-1] in ". ":
            refuse(f"has a name part ending in a {'dot' if part[-1] == '.' else 'space'} ('{part}'), which Windows "
                   "cannot keep.")
        if part.split(".")[0].strip().upper() in WINDOWS_RESERVED:
            refuse(f"uses '{part}', a device name Windows reserves (with any extension).")
    if root is None or not parts:
        return
    name_max, path_max = _name_limits(root)
    longest = len(parts[-1].encode("utf-8", "surrogatepass")) + _NAME_OVERHEAD
    if any(len(part.encode("utf-8", "surrogatepass")) > name_max for part in parts) or longest > name_max:
        refuse(f"makes a file name longer than this file system allows ({name_max} bytes, with the counter and "
               "extension).")
    full = os.path.join(os.path.abspath(root), *parts)
    if len(full.encode("utf-8", "surrogatepass")) + _NAME_OVERHEAD > path_max:
        refuse(f"makes a path longer than this system allows ({path_max} bytes, with the output folder).")


def _name_limits(root: str) -> tuple[int, int]:
    """(longest file name in bytes, longest path) where `root` is, or the usual limits where the OS does not say."""
    if os.name == "nt":
        return 255, 260  # without the opt-in long paths, which a user cannot be assumed to have
    existing = os.path.abspath(root)
    while not os.path.isdir(existing) and os.path.dirname(existing) != existing:
        existing = os.path.dirname(existing)
    try:
        return os.pathconf(existing, "PC_NAME_MAX"), os.pathconf(existing, "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):
        return 255, 4096


def split_prefix(output_dir: str, filename_prefix: str) -> tuple[str, str, str]:
    """(folder, subfolder, name) for a prefix like "CogVideoX/t2v", refusing one that leaves output_dir or that
    check_prefix refuses."""
    check_prefix(filename_prefix, output_dir)
    prefix = filename_prefix.strip() or "DiffusersVideo"
    subfolder, name = os.path.split(os.path.normpath(prefix))
    root = os.path.abspath(output_dir)
    folder = os.path.abspath(os.path.join(root, subfolder))
    if os.path.isabs(prefix) or os.path.commonpath([root, folder]) != root or not name or name in (".", ".."):
        raise DVInputError("filename_prefix", f"'{filename_prefix}' would write outside the output folder.",
                           "a name, optionally with subfolders inside the output folder (e.g. 'CogVideoX/run').")
    return folder, os.path.relpath(folder, root) if folder != root else "", name


def publish(tmp_path: str, target: str) -> bool:
    """Give the finished file `tmp_path` the name `target` unless a file of that name exists (then False).

    A hard link claims the name atomically and fails instead of replacing. Where the file system has no hard
    links (FAT/exFAT, some SMB mounts), the name is claimed with an exclusive create and the bytes are copied
    into it: still nothing is ever overwritten, and a copy that fails removes its own half-written file.
    """
    try:
        os.link(tmp_path, target)
        return True
    except FileExistsError:
        return False
    except OSError:
        pass  # no hard links here
    try:
        claimed = open(target, "xb")
    except FileExistsError:
        return False
    try:
        with claimed, open(tmp_path, "rb") as source:
            shutil.copyfileobj(source, claimed, 1 << 20)
    except BaseException:
        os.remove(target)
        raise
    return True


def publish_counted(tmp_path: str, folder: str, name: str, extension: str) -> str:
    """Publish `tmp_path` as <name>_<counter>.<extension> in `folder` with the next free counter; its file name."""
    counter = next_counter(folder, name, extension)
    while True:
        filename = f"{name}_{counter:05}.{extension}"
        if publish(tmp_path, os.path.join(folder, filename)):
            return filename
        counter += 1


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
    try:
        with wave.open(handle.name, "wb") as out:
            out.setnchannels(pcm.shape[1])
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes(np.ascontiguousarray(pcm).tobytes())
    except BaseException:
        os.remove(handle.name)
        raise
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
    # The metadata file holds the whole prompt: it is removed however this ends, also when ffmpeg cannot start.
    meta_file = tempfile.NamedTemporaryFile("w", suffix=".ffmeta", delete=False, encoding="utf-8")
    try:
        with meta_file:
            meta_file.write(meta.ffmetadata(values))
        command += ["-f", "ffmetadata", "-i", meta_file.name]
        if audio_file:
            command += ["-i", audio_file]
        command += ["-map_metadata", "1", "-map", "0:v"]  # output options follow every input
        if audio_file:
            command += ["-map", "2:a", *fmt.audio_codec_args]
        command += [arg.replace("{crf}", str(crf)) for arg in fmt.codec_args]
        command += ["-pix_fmt", fmt.pixel_format, "-f", fmt.muxer, tmp_path]
        _run_encoder(command, frames, fmt)
    finally:
        os.remove(meta_file.name)


def _run_encoder(command: list[str], frames: Iterator, fmt: VideoFormat) -> None:
    try:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    except (OSError, ValueError) as error:  # no ffmpeg there, not executable, a name the OS cannot take
        raise RuntimeError(f"{NODE}: ffmpeg could not be started to write the {fmt.name} file ({error}).") from None
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
        publish(tmp, target)  # False: a file of that name is someone else's; the gif keeps its comment metadata
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
    # Written under a hidden temporary name in the same folder, then published (publish: a hard link, or an
    # exclusive create and a copy), which fails instead of replacing an existing file: an interrupted write
    # leaves nothing, and two runs racing for the same counter both keep their files.
    tmp_path = os.path.join(folder, f".{name}.{os.getpid()}.partial.{fmt.extension}")
    audio_file = None
    if audio is not None and not fmt.audio_codec_args:
        notes.append(f"{fmt.extension} files carry no sound; the audio input was left out.")
    try:
        if audio is not None and fmt.audio_codec_args:
            audio_file = _audio_wav(audio, len(order) / fps)
        if fmt.backend == "ffmpeg":
            _write_ffmpeg(tmp_path, fmt, frames, out_w, out_h, fps, crf, values, audio_file)
        else:
            _write_pillow(tmp_path, fmt, frames, fps, loop_count, values)
        filename = publish_counted(tmp_path, folder, name, fmt.extension)
    finally:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        if audio_file and os.path.exists(audio_file):
            os.remove(audio_file)
    if fmt.companion_png and values:
        _write_companion_png(os.path.join(folder, filename), raw[order[0]], values)
    return SavedVideo(os.path.join(folder, filename), filename, subfolder, len(order), out_w, out_h, fps, notes)
