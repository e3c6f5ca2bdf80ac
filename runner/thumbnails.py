"""Title-card thumbnails (.jpg beside each UI workflow) for ComfyUI's template browser.

A card names the family, the task and the settings the example uses, drawn with Pillow. They are not
renders: the real models cannot run here, and a frame from the tiny random models would mislead.
    python -m diffusers_video.runner.thumbnails
"""

from __future__ import annotations

import json
import os
import textwrap

from .demo import EXAMPLES

SIZE = (512, 512)
BACKGROUND, ACCENT, TEXT = (24, 26, 34), (233, 120, 52), (236, 236, 240)


def _card_lines(prompt: dict) -> tuple[str, list[str]]:
    titles = {node["class_type"]: node.get("_meta", {}).get("title", "") for node in prompt.values()}
    loader = (titles.get("DVPipelineLoader") or titles.get("DVCheckpointLoader") or titles.get("DVModelLoader")
              or "DiffusersVideo")
    heading = loader.removeprefix("Load ").split(" (")[0]
    lines = [titles.get("DVSampler", "")]
    for class_type in ("DVLoadVideo", "LoadImage", "DVControlNetLoader", "DVMotionAdapterLoader", "DVVideoCombine"):
        if titles.get(class_type):
            lines.append(titles[class_type])
    return heading, [line for line in lines if line]


def render(name: str) -> str:
    from PIL import Image, ImageDraw, ImageFont

    with open(os.path.join(EXAMPLES, "api", f"{name}.json"), encoding="utf-8") as f:
        heading, lines = _card_lines(json.load(f))
    image = Image.new("RGB", SIZE, BACKGROUND)
    draw = ImageDraw.Draw(image)
    big, small = ImageFont.load_default(size=40), ImageFont.load_default(size=22)
    draw.rectangle((0, 0, SIZE[0], 12), fill=ACCENT)
    draw.text((32, 48), "DiffusersVideo", font=small, fill=ACCENT)
    y = 90
    for part in textwrap.wrap(heading, 20):
        draw.text((32, y), part, font=big, fill=TEXT)
        y += 50
    y += 10
    draw.text((32, y), name.replace("_", " "), font=small, fill=ACCENT)
    y += 44
    for line in lines:
        for part in textwrap.wrap(line, 38):
            draw.text((32, y), part, font=small, fill=TEXT)
            y += 30
        y += 8
    path = os.path.join(EXAMPLES, f"{name}.jpg")
    image.save(path, quality=88)
    return path


def main() -> int:
    for file in sorted(os.listdir(EXAMPLES)):
        if file.endswith(".json"):
            print(render(file[:-5]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
