"""Reading a video file back into ComfyUI IMAGE frames."""

from __future__ import annotations

import os


def read_video(path: str, frame_cap: int = 0, skip_first: int = 0, select_every_nth: int = 1):
    """(frames [F, H, W, 3] float 0..1, fps). mp4/webm/mov/mkv through PyAV; gif/webp through Pillow, whose
    animated-webp support ffmpeg's decoder lacks."""
    import numpy as np
    import torch

    if not os.path.isfile(path):
        raise FileNotFoundError(path)
    frames, fps = [], 0.0
    extension = os.path.splitext(path)[1].lower()
    kept = 0
    if extension in (".gif", ".webp"):
        from PIL import Image, ImageSequence

        with Image.open(path) as image:
            durations = []
            for index, frame in enumerate(ImageSequence.Iterator(image)):
                rgb = frame.convert("RGB")  # webp reports a frame's duration only once it is loaded
                durations.append(frame.info.get("duration", 100))
                if index < skip_first or (index - skip_first) % select_every_nth:
                    continue
                frames.append(np.asarray(rgb))
                kept += 1
                if frame_cap and kept >= frame_cap:
                    break
        fps = 1000.0 / (sum(durations) / len(durations)) if durations else 0.0
    else:
        import av

        with av.open(path) as container:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            fps = float(rate) if rate else 0.0
            for index, frame in enumerate(container.decode(stream)):
                if index < skip_first or (index - skip_first) % select_every_nth:
                    continue
                frames.append(frame.to_ndarray(format="rgb24"))
                kept += 1
                if frame_cap and kept >= frame_cap:
                    break
    if not frames:
        raise ValueError(f"no frames in {path}")
    return torch.from_numpy(np.stack(frames)).float().div(255), fps / select_every_nth
