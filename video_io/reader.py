"""Reading a video file back into ComfyUI IMAGE frames (and its audio track into a ComfyUI AUDIO dict).

Decoding is done by libraries only: PyAV (FFmpeg) for mp4/webm/mov/mkv and Pillow for gif and animated webp,
whose animation FFmpeg's webp decoder does not support (formats.READ_FORMATS says which file goes where).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from .formats import READ_FORMATS

log = logging.getLogger("DiffusersVideo")

VIDEO_EXTENSIONS = tuple(f".{extension}" for extension in READ_FORMATS)  # what the loader lists and reads


class VideoReadError(ValueError):
    """The file could not be decoded as a video (corrupt, truncated, not a video, or no video track)."""


class NoFramesSelected(ValueError):
    """The file decoded, but skipping left no frames; `total` is how many frames the file has."""

    def __init__(self, path: str, total: int) -> None:
        self.total = total
        super().__init__(f"no frames in {path} after skipping (it has {total})")


@dataclass
class LoadedVideo:
    frames: Any  # [F, H, W, 3] float32 0..1 on the CPU
    fps: float  # of the loaded frames: the file's rate divided by select_every_nth
    source_fps: float
    audio: dict | None  # ComfyUI AUDIO under the loaded frames, or None

    @property
    def frame_count(self) -> int:
        return int(self.frames.shape[0])


def fit_size(width: int, height: int, custom_width: int = 0, custom_height: int = 0) -> tuple[int, int]:
    """The output size: unchanged when both are 0, the aspect ratio kept when only one is given."""
    if custom_width and custom_height:
        return custom_width, custom_height
    if custom_width:
        return custom_width, max(1, round(height * custom_width / width))
    if custom_height:
        return max(1, round(width * custom_height / height)), custom_height
    return width, height


def _selected(index: int, skip_first: int, select_every_nth: int) -> bool:
    return index >= skip_first and (index - skip_first) % select_every_nth == 0


def _to_tensor(arrays: list):
    """uint8 frames -> one float tensor, converting frame by frame (no second full-size uint8 copy)."""
    import torch

    height, width = arrays[0].shape[:2]
    out = torch.empty((len(arrays), height, width, 3), dtype=torch.float32)
    for i, array in enumerate(arrays):
        out[i].copy_(torch.from_numpy(array))
        arrays[i] = None
    return out.div_(255)


def _read_pillow(path: str, frame_cap: int, skip_first: int, select_every_nth: int, custom_width: int,
                 custom_height: int) -> tuple[list, float, int]:
    """gif/webp frames at a constant rate. Their encoders (Pillow's gif writer, libwebp) merge identical
    consecutive frames into one longer frame, so a frame lasting k times the usual duration is repeated k
    times: the clip comes back with the frame count and rate it was written with."""
    from collections import Counter

    import numpy as np
    from PIL import Image, ImageSequence, UnidentifiedImageError

    arrays, size = [], None
    try:
        with Image.open(path) as image:
            durations = []
            for frame in ImageSequence.Iterator(image):  # first pass: timing only
                frame.load()  # webp reports a frame's duration only once it is loaded
                durations.append(frame.info.get("duration") or 100)  # 0 plays as 100 ms in browsers
            if not durations:
                return [], 0.0, 0
            counts = Counter(durations)
            base = min(counts, key=lambda d: (-counts[d], d))  # the most common duration
            repeats = [max(1, round(d / base)) for d in durations]
            index = 0
            for frame, repeat in zip(ImageSequence.Iterator(image), repeats, strict=False):
                wanted = sum(_selected(i, skip_first, select_every_nth) for i in range(index, index + repeat))
                index += repeat
                if not wanted:
                    continue
                rgb = frame.convert("RGB")
                size = size or fit_size(rgb.width, rgb.height, custom_width, custom_height)
                if rgb.size != size:
                    rgb = rgb.resize(size, Image.Resampling.LANCZOS)
                array = np.array(rgb)  # writable, for torch.from_numpy
                arrays += [array] * wanted
                if frame_cap and len(arrays) >= frame_cap:
                    del arrays[frame_cap:]
                    break
    except (UnidentifiedImageError, OSError, EOFError, SyntaxError, ValueError) as error:
        raise VideoReadError(f"{type(error).__name__}: {error}") from error
    return arrays, 1000.0 / base, sum(repeats)


def _rgb_frame(frame, size: tuple[int, int]):
    """A decoded PyAV frame as uint8 RGB, turned upright by its display matrix (phone videos) and resized."""
    import numpy as np

    quarter_turns = round((frame.rotation or 0) / 90) % 4  # counterclockwise, as FFmpeg's autorotate
    width, height = size if quarter_turns % 2 == 0 else size[::-1]  # before turning
    if (width, height) == (frame.width, frame.height):
        array = frame.to_ndarray(format="rgb24")
    else:
        array = frame.reformat(width=width, height=height, format="rgb24", interpolation="LANCZOS").to_ndarray()
    return np.ascontiguousarray(np.rot90(array, quarter_turns)) if quarter_turns else array


def _drain(stream) -> None:
    """Finish the frames a frame-threaded decoder still has in flight before the stream is freed.

    Stopping early (a frame cap) leaves FFmpeg's decoding threads busy; freeing the codec context then waits for
    them while holding the GIL, and a thread that logs through PyAV's Python log callback waits for the GIL:
    a deadlock (seen in ComfyUI 0.33's server: avcodec_free_context blocked for good). Draining decodes with the
    GIL released, so the threads are idle when the context is freed."""
    import av

    try:
        for _ in stream.codec_context.decode(None):
            pass
    except (av.error.FFmpegError, ValueError):
        pass  # nothing was left, or the decoder would not flush: either way no frame is in flight


def _read_pyav(path: str, frame_cap: int, skip_first: int, select_every_nth: int, custom_width: int,
               custom_height: int) -> tuple[list, float, int, float | None]:
    """(frames, fps, frames decoded, time of the first kept frame on the container's clock)."""
    import av

    arrays, total, size, first_time = [], 0, None, None
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise VideoReadError("the file has no video track")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate
            try:
                for index, frame in enumerate(container.decode(stream)):
                    total = index + 1
                    if not _selected(index, skip_first, select_every_nth):
                        continue
                    if size is None:  # every frame gets the first kept frame's (display) size
                        turned = round((frame.rotation or 0) / 90) % 2
                        width, height = (frame.height, frame.width) if turned else (frame.width, frame.height)
                        size = fit_size(width, height, custom_width, custom_height)
                        first_time = frame.time if frame.time is not None else index / float(rate or 1)
                    arrays.append(_rgb_frame(frame, size))
                    if frame_cap and len(arrays) >= frame_cap:
                        break
            finally:  # however the loop ended: a frame cap, a bad frame, an interrupt
                _drain(stream)
    except av.error.FFmpegError as error:
        raise VideoReadError(str(error)) from error
    return arrays, float(rate) if rate else 0.0, total, first_time


def read_audio(path: str, start: float | None = None, duration: float | None = None) -> dict | None:
    """The first audio track as ComfyUI AUDIO ({"waveform": [1, channels, samples] float32, "sample_rate"}),
    from `start` seconds on the container's clock for `duration` seconds; None when there is no audio track.

    Silence is put in front when the audio starts after `start`, so the waveform stays in sync with frames
    that begin at `start`.
    """
    import av
    import numpy as np
    import torch

    end = None if start is None or duration is None else start + duration
    chunks, first_time, rate = [], None, 0
    try:
        with av.open(path) as container:
            if not container.streams.audio:
                return None
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="fltp")  # planar float, same layout and rate
            for frame in container.decode(stream):
                if first_time is None:
                    first_time = frame.time or 0.0
                rate = frame.sample_rate
                chunks += [out.to_ndarray() for out in resampler.resample(frame)]
                if end is not None and frame.time is not None and frame.time > end:
                    break
            chunks += [out.to_ndarray() for out in resampler.resample(None)]
    except av.error.FFmpegError as error:
        log.warning("DVLoadVideo: the audio track of %s could not be decoded (%s); no audio.", path, error)
        return None
    if not chunks or not rate:
        return None
    waveform = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
    if start is not None:
        offset = round((start - first_time) * rate)
        if offset >= 0:
            waveform = waveform[:, offset:]
        else:
            waveform = np.concatenate([np.zeros((waveform.shape[0], -offset), np.float32), waveform], axis=1)
    if duration is not None:
        waveform = waveform[:, : round(duration * rate)]
    if waveform.shape[1] == 0:
        return None
    return {"waveform": torch.from_numpy(np.ascontiguousarray(waveform))[None], "sample_rate": int(rate)}


def load_video(path: str, frame_cap: int = 0, skip_first: int = 0, select_every_nth: int = 1,
               custom_width: int = 0, custom_height: int = 0, audio: bool = True) -> LoadedVideo:
    """Frames [F, H, W, 3] float 0..1, their fps, and the audio under them.

    Raises FileNotFoundError, VideoReadError (not decodable) or NoFramesSelected (skip_first too large).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(path)
    select_every_nth = max(1, select_every_nth)
    extension = os.path.splitext(path)[1].lower().lstrip(".")
    first_time = None
    if READ_FORMATS.get(extension) == "pillow":
        arrays, fps, total = _read_pillow(path, frame_cap, skip_first, select_every_nth, custom_width,
                                          custom_height)
    else:
        arrays, fps, total, first_time = _read_pyav(path, frame_cap, skip_first, select_every_nth, custom_width,
                                                    custom_height)
    if total == 0:
        raise VideoReadError("no frame could be decoded")
    if not arrays:
        raise NoFramesSelected(path, total)
    count = len(arrays)
    sound = None
    if audio and first_time is not None:
        # The audio under the loaded frames: each kept frame stands for select_every_nth source frames.
        span = count * select_every_nth / fps if fps else None
        sound = read_audio(path, first_time, span)
    return LoadedVideo(_to_tensor(arrays), fps / select_every_nth, fps, sound)


def read_video(path: str, frame_cap: int = 0, skip_first: int = 0, select_every_nth: int = 1):
    """(frames [F, H, W, 3] float 0..1, fps of the returned frames), without audio."""
    loaded = load_video(path, frame_cap, skip_first, select_every_nth, audio=False)
    return loaded.frames, loaded.fps
