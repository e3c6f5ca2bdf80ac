"""Video nodes: frames to a video file with the workflow inside."""

from __future__ import annotations

from ..errors import DVInputError
from ..video_io.formats import FORMATS

CATEGORY = "DiffusersVideo/video"


class DVVideoCombine:
    DISPLAY_NAME = "DV Video Combine"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Writes frames to an mp4 (h264), webm (vp9), gif or animated webp in the output folder, with the prompt "
        "and workflow embedded under ComfyUI's own keys, so dropping the file onto ComfyUI brings the workflow "
        "back. Never overwrites: each run gets the next number."
    )
    FUNCTION = "combine"
    OUTPUT_NODE = True
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("filename",)
    OUTPUT_TOOLTIPS = ("The full path of the written file.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The frames, e.g. from DVVAEDecode."}),
                "fps": ("FLOAT", {"default": 8.0, "min": 0.01, "max": 240.0, "step": 0.01,
                                  "tooltip": "Frames per second; use the model card's (CogVideoX 8, Wan 16, LTX 24)."}),
                "filename_prefix": ("STRING", {"default": "DiffusersVideo",
                                               "tooltip": "File name before the counter; may contain subfolders "
                                               "of the output folder, e.g. CogVideoX/run."}),
                "format": (list(FORMATS), {"default": "video/h264-mp4", "tooltip": "Container and codec."}),
                "crf": ("INT", {"default": 19, "min": 0, "max": 63,
                                "tooltip": "Quality for mp4 (0-51) and webm (0-63): lower is better and larger. "
                                "Not used by gif and webp."}),
                "loop_count": ("INT", {"default": 0, "min": 0, "max": 100,
                                       "tooltip": "gif/webp: how often the animation repeats; 0 loops forever."}),
                "pingpong": ("BOOLEAN", {"default": False,
                                         "tooltip": "Play forward then backward, for a seamless loop."}),
                "save_output": ("BOOLEAN", {"default": True,
                                            "tooltip": "Save to the output folder; off writes a preview to the "
                                            "temp folder only."}),
            },
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO", "unique_id": "UNIQUE_ID"},
        }

    def combine(self, images, fps: float, filename_prefix: str, format: str, crf: int, loop_count: int,
                pingpong: bool, save_output: bool, prompt: dict | None = None, extra_pnginfo: dict | None = None,
                unique_id: str | None = None):
        import logging

        import torch

        from .. import host
        from ..video_io.writer import write_video

        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[-1] not in (3, 4):
            raise DVInputError("DVVideoCombine", "images", "this is not a batch of frames [frames, height, width, 3].",
                               "an IMAGE output, e.g. from DVVAEDecode.")
        if images.shape[0] == 0:
            raise DVInputError("DVVideoCombine", "images", "no frames.", "at least one frame.")
        if fps <= 0:
            raise DVInputError("DVVideoCombine", "fps", f"{fps}.", "more than 0.")
        if format not in FORMATS:
            raise DVInputError("DVVideoCombine", "format", f"unknown format '{format}'.", ", ".join(FORMATS))
        if host.metadata_disabled():
            prompt, extra_pnginfo = None, None
        folder = host.output_directory() if save_output else host.temp_directory()
        saved = write_video(images, folder, filename_prefix, FORMATS[format], fps, crf, loop_count, pingpong,
                            prompt, extra_pnginfo)
        for note in saved.notes:
            logging.getLogger("DiffusersVideo").info("DVVideoCombine: %s", note)
        preview = {"filename": saved.filename, "subfolder": saved.subfolder,
                   "type": "output" if save_output else "temp"}
        # The shape core's SaveVideo/SaveWEBM return, so the stock frontend plays the file in the node.
        return {"ui": {"images": [preview], "animated": (True,)}, "result": (saved.path,)}


NODES = [DVVideoCombine]
