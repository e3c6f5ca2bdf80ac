"""IMAGE inputs as the diffusers pipelines take them."""

from __future__ import annotations


def to_pil(image):
    """The first IMAGE frame as a PIL image: SVD resizes PIL inputs for its 224x224 CLIP encoder but not
    tensors, and a PIL image is what diffusers' guide passes (ComfyUI's images come from 8-bit files)."""
    from PIL import Image

    array = image[0, ..., :3].clamp(0, 1).mul(255).round().byte().cpu().numpy()
    return Image.fromarray(array)
