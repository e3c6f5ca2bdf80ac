"""Memory options for a model wire: offloading and forward chunking (storage is on the loaders, decode
chunking/tiling on DVVAEDecode)."""

from __future__ import annotations

from dataclasses import replace

from ..errors import expect_type
from ..model_loaders import offload
from ..model_loaders.components import DVModel

CATEGORY = "DiffusersVideo/memory"


class DVOffload:
    DISPLAY_NAME = "DV Offload"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Keeps the model's weights off the GPU when it is not computing, as diffusers' offloading does. model "
        "offload: unload right after sampling. group offload: only a group of blocks (block_level) or single "
        "layers (leaf_level, like sequential offload) sit on the GPU at a time. forward_chunk_size runs a UNet's "
        "feed-forward layers in chunks. Applies to the runs of DVSampler that use this wire."
    )
    FUNCTION = "apply"
    RETURN_TYPES = ("DV_MODEL",)
    RETURN_NAMES = ("model",)
    OUTPUT_TOOLTIPS = ("The model with these settings, for DVSampler.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("DV_MODEL", {"tooltip": "A model from a loader."}),
                "offload": (offload.OFFLOAD_MODES, {
                    "default": "ComfyUI decides",
                    "tooltip": "How the weights move between GPU and CPU. ComfyUI decides: on a GPU, a full load "
                    "when the model fits the free memory, else the fastest group offload that fits (logged). full "
                    "load: always load it whole."}),
                "num_blocks_per_group": ("INT", {"default": 1, "min": 1, "max": 64,
                                                 "tooltip": "block_level: blocks moved to the GPU together; more "
                                                 "is faster and uses more memory."}),
                "use_stream": ("BOOLEAN", {"default": False,
                                           "tooltip": "Group offload: prefetch the next group on a CUDA stream "
                                           "while this one computes (CUDA only; uses pinned CPU memory)."}),
                "forward_chunk_size": ("INT", {"default": 0, "min": 0, "max": 64,
                                               "tooltip": "UNet families: frames per feed-forward chunk; 0 off."}),
            }
        }

    def apply(self, model: DVModel, offload: str, num_blocks_per_group: int, use_stream: bool,
              forward_chunk_size: int):
        from ..model_loaders import offload as offload_util

        expect_type("model", model, DVModel, "a DV_MODEL")
        spec = offload_util.DVOffloadSpec(offload, num_blocks_per_group, use_stream, forward_chunk_size)
        for expert in model.experts():
            offload_util.check(expert, spec)
        return (replace(model, offload=spec),)


NODES = [DVOffload]
