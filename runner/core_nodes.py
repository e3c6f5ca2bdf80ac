"""Stand-ins for the few ComfyUI core nodes the shipped examples use, for the in-process runner only.

Inside ComfyUI the real core nodes run; these are never registered there. They take the same inputs and
give the same outputs, so a workflow made in the editor runs headless unchanged.
"""

from __future__ import annotations

import os


class LoadImage:
    """Core's LoadImage: an image from the input folder as IMAGE [1, H, W, 3] and its alpha as MASK."""

    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("IMAGE", "MASK")
    FUNCTION = "load_image"
    CATEGORY = "image"

    @classmethod
    def INPUT_TYPES(cls):
        from .. import host

        folder = host.input_directory()
        files = sorted(f for f in os.listdir(folder) if os.path.isfile(os.path.join(folder, f))) \
            if os.path.isdir(folder) else []
        return {"required": {"image": (files, {"image_upload": True})}}

    def load_image(self, image: str):
        import numpy as np
        import torch
        from PIL import Image, ImageOps

        from .. import host

        with Image.open(os.path.join(host.input_directory(), image)) as picture:
            picture = ImageOps.exif_transpose(picture)
            rgb = torch.from_numpy(np.asarray(picture.convert("RGB"), dtype=np.float32) / 255.0)[None]
            if "A" in picture.getbands():
                mask = 1.0 - torch.from_numpy(np.asarray(picture.getchannel("A"), dtype=np.float32) / 255.0)
            else:  # as core: a picture without alpha gives a 64x64 empty mask, whatever its size
                mask = torch.zeros((64, 64), dtype=torch.float32)
        return rgb, mask[None]


class Canny:
    """Core's Canny (comfy_extras/nodes_canny.py): kornia's Canny on every image of a batch, edges as IMAGE."""

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "detect_edge"
    CATEGORY = "image/preprocessors"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "image": ("IMAGE",),
            "low_threshold": ("FLOAT", {"default": 0.4, "min": 0.01, "max": 0.99, "step": 0.01}),
            "high_threshold": ("FLOAT", {"default": 0.8, "min": 0.01, "max": 0.99, "step": 0.01}),
        }}

    def detect_edge(self, image, low_threshold: float, high_threshold: float):
        from kornia.filters import canny

        edges = canny(image.movedim(-1, 1), low_threshold, high_threshold)[1]
        return (edges.repeat(1, 3, 1, 1).movedim(1, -1),)


CORE_NODES = {"LoadImage": LoadImage, "Canny": Canny}
