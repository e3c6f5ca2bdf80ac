"""The prompt and workflow inside saved videos: written with ComfyUI core's keys, read back for checks."""

from __future__ import annotations

import json
import os
from typing import Any

# EXIF tags core's SaveAnimatedWEBP uses: 0x0110 (Model) for the prompt, 0x010F (Make) downwards for each
# extra_pnginfo entry; the frontend reads "key:json" from them.
EXIF_PROMPT = 0x0110
EXIF_FIRST_EXTRA = 0x010F


def entries(prompt: dict | None, extra_pnginfo: dict | None) -> dict[str, str]:
    """{"prompt": json, "workflow": json, ...}: the keys core's SaveVideo writes."""
    found: dict[str, str] = {}
    if prompt is not None:
        found["prompt"] = json.dumps(prompt)
    for key, value in (extra_pnginfo or {}).items():
        found[key] = json.dumps(value)
    return found


def ffmetadata(values: dict[str, str]) -> str:
    """An ffmpeg metadata file; a file because workflows exceed Linux's 128 KiB limit for one argument."""

    def escape(text: str) -> str:
        for char in ("\\", "=", ";", "#", "\n"):
            text = text.replace(char, "\\" + char)
        return text

    return ";FFMETADATA1\n" + "".join(f"{escape(k)}={escape(v)}\n" for k, v in values.items())


def exif_for(values: dict[str, str]):
    from PIL import Image

    exif = Image.Exif()
    tag = EXIF_FIRST_EXTRA
    for key, value in values.items():
        if key == "prompt":
            exif[EXIF_PROMPT] = f"prompt:{value}"
        else:
            exif[tag] = f"{key}:{value}"
            tag -= 1
    return exif


def read_metadata(path: str) -> dict[str, Any]:
    """prompt/workflow (parsed JSON) from a file DVVideoCombine wrote, whatever its format."""
    extension = os.path.splitext(path)[1].lower()
    raw: dict[str, str] = {}
    if extension in (".mp4", ".webm", ".mov", ".mkv"):
        import av

        with av.open(path) as container:
            raw = {k.lower(): v for k, v in container.metadata.items()}
    elif extension == ".webp":
        from PIL import Image

        with Image.open(path) as image:
            for value in image.getexif().values():
                if isinstance(value, str) and ":" in value:
                    key, _, text = value.partition(":")
                    raw[key] = text
    elif extension == ".gif":
        from PIL import Image

        with Image.open(path) as image:
            comment = image.info.get("comment", b"")
        if comment:
            raw = json.loads(comment.decode("utf-8"))
            raw = {k: json.dumps(v) for k, v in raw.items()}
    parsed = {}
    for key in ("prompt", "workflow"):
        if key in raw:
            parsed[key] = json.loads(raw[key])
    return parsed
