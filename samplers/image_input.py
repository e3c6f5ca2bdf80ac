"""IMAGE inputs as the diffusers pipelines take them.

The diffusers guides hand every video pipeline its conditioning as PIL images (a first frame from
`load_image`, video frames and control frames from `load_video` as lists of PIL images), and the pipelines'
preprocessors treat the two kinds differently: PIL images are resized with Lanczos, tensors with
`F.interpolate`'s nearest-neighbour default. So the pack converts ComfyUI's IMAGE to what the guide passes,
and the pipeline resizes it as it resizes the guide's input. docs/image_inputs.md has the table per family.

ComfyUI's IMAGE has three channels (LoadImage puts alpha in a separate MASK); an IMAGE with a fourth
channel, from other nodes, has it dropped here, as the pipelines would drop it (they convert to RGB).
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import DVInputError

log = logging.getLogger("DiffusersVideo")

RESIZE_MODES = ("default", "fill", "crop")  # diffusers' VaeImageProcessor.resize modes
MIN_SIDE = 8  # smaller inputs carry no picture worth the name once the pipeline stretches them


def check_frames(input_name: str, images: Any) -> None:
    """Refuse what is no IMAGE batch [N, H, W, C] a pipeline can take (before any work starts)."""
    import torch

    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[0] < 1:
        raise DVInputError(input_name, f"got {type(images).__name__} {tuple(getattr(images, 'shape', ()))}, which is "
                           "not an IMAGE batch [frames, height, width, channels].",
                           "the IMAGE output of a loader (Load Image, DVLoadVideo).")
    channels, height, width = int(images.shape[3]), int(images.shape[1]), int(images.shape[2])
    if channels not in (1, 3, 4):
        raise DVInputError(input_name, f"the image has {channels} channels.",
                           "an RGB IMAGE (3 channels; grey and RGBA are converted).")
    if min(height, width) < MIN_SIDE:
        raise DVInputError(input_name, f"the image is {width}x{height} pixels; stretched to the video's size it "
                           "would carry no picture.", f"an image at least {MIN_SIDE}x{MIN_SIDE} pixels.")
    if not torch.isfinite(images).all():
        raise DVInputError(input_name, "the image has NaN or infinite values.", "an IMAGE with values in 0..1.")


def to_pil(image, index: int = 0):
    """One IMAGE frame as an 8-bit RGB PIL image, as `load_image` gives it to the guide's pipeline call."""
    from PIL import Image

    frame = image[index]
    if frame.shape[-1] == 1:  # grey: as PIL's convert("RGB") would
        frame = frame.expand(*frame.shape[:-1], 3)
    elif frame.shape[-1] == 4:
        log.info("DiffusersVideo: the image's alpha channel is dropped (the pipelines take RGB).")
        frame = frame[..., :3]
    array = frame.clamp(0, 1).mul(255).round().byte().cpu().numpy()
    return Image.fromarray(array)


def to_pil_frames(images, count: int | None = None) -> list:
    """IMAGE frames as the list of PIL images `load_video` gives the guide's video-to-video / control call."""
    n = int(images.shape[0]) if count is None else min(int(count), int(images.shape[0]))
    return [to_pil(images, i) for i in range(n)]


def resized(images: list, height: int, width: int, resize_mode: str) -> list:
    """PIL images fitted to height x width with diffusers' own VaeImageProcessor.resize ("fill": letterbox,
    "crop": centre crop, keeping the aspect); "default" leaves them to the pipeline, which stretches."""
    if resize_mode == "default":
        return images
    from diffusers.image_processor import VaeImageProcessor

    processor = VaeImageProcessor()
    return [processor.resize(image, height, width, resize_mode=resize_mode) for image in images]


def resize_mode(options: dict[str, Any] | None) -> str:
    mode = str((options or {}).get("resize_mode", "default"))
    if mode not in RESIZE_MODES:
        raise DVInputError("options", f"resize_mode '{mode}'.", ", ".join(RESIZE_MODES))
    return mode


def pipeline_image(input_name: str, images, height: int, width: int, options: dict[str, Any] | None):
    """The first frame of an IMAGE input, checked, as the PIL image the pipeline's guide passes, fitted to the
    render size by the chosen resize mode."""
    check_frames(input_name, images)
    return resized([to_pil(images)], height, width, resize_mode(options))[0]


def pipeline_frames(input_name: str, images, height: int, width: int, options: dict[str, Any] | None,
                    count: int | None = None, same_aspect: bool = False) -> list:
    """Video or control frames, checked, as the list of PIL images the guide passes, fitted by the resize mode.

    same_aspect: refuse frames of another aspect ratio unless a resize mode says how to fit them (control
    frames stretched out of shape would steer the video into that shape)."""
    check_frames(input_name, images)
    mode = resize_mode(options)
    h, w = int(images.shape[1]), int(images.shape[2])
    if same_aspect and mode == "default" and abs(w / h - width / height) > 0.01:
        raise DVInputError(input_name, f"the frames are {w}x{h} (aspect {w / h:.3f}), the video {width}x{height} "
                           f"(aspect {width / height:.3f}); stretching would distort what they control.",
                           "a resize_mode (fill or crop) on DVImageInputOptions, or frames of the video's aspect.")
    return resized(to_pil_frames(images, count), height, width, mode)


def mask_to_pil(mask: Any) -> Any:
    """One MASK frame (0..1) as the 8-bit "L" image the guides' masks are."""
    from PIL import Image

    return Image.fromarray(mask.clamp(0, 1).mul(255).round().byte().cpu().numpy())  # uint8 [H, W]: "L"
