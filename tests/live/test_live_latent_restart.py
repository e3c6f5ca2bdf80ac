"""A saved latent outlives the server: sample and save it, restart ComfyUI, load it and decode: the frames equal
those decoded in the first run (lossless PNGs through core's Save Image, compared pixel for pixel)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.live


def loader() -> dict:
    return {"class_type": "DVPipelineLoader", "inputs": {"model": "tiny-cogvideox", "dtype": "fp32",
                                                         "weights": "as dtype"}}


def decode(vae: list, samples: list) -> dict:
    return {"class_type": "DVVAEDecode", "inputs": {"vae": vae, "samples": samples, "decode_chunk_size": 0,
                                                    "tiling": "off", "tile_sample_size": 0, "tile_overlap": 0.0,
                                                    "memory": "as set"}}


def save_image(images: list, prefix: str) -> dict:
    return {"class_type": "SaveImage", "inputs": {"images": images, "filename_prefix": prefix}}


def pngs(comfy, prefix: str) -> list:
    import numpy as np
    from PIL import Image

    files = sorted((comfy.output / "restart").glob(f"{prefix}_*.png"))
    return [np.asarray(Image.open(f)) for f in files]


def test_a_saved_latent_decodes_the_same_after_a_restart(comfy):
    first = {
        "1": loader(),
        "2": {"class_type": "DVTextEncode", "inputs": {"text_encoder": ["1", 2], "prompt": "a red fox in the snow",
                                                       "negative_prompt": "", "max_sequence_length": 226,
                                                       "truncate_long_prompt": True}},
        "3": {"class_type": "DVSampler", "inputs": {"model": ["1", 0], "conditioning": ["2", 0], "width": 64,
                                                    "height": 48, "num_frames": 9, "num_inference_steps": 2,
                                                    "guidance_scale": 6.0, "seed": 7, "scheduler": ["1", 3]}},
        "4": {"class_type": "DVSaveLatent", "inputs": {"samples": ["3", 0], "filename_prefix": "restart/latent"}},
        "5": decode(["1", 1], ["4", 0]),
        "6": save_image(["5", 0], "restart/direct"),
    }
    comfy.run(first)
    saved = sorted((comfy.output / "restart").glob("latent_*.safetensors"))
    assert len(saved) == 1, saved
    direct = pngs(comfy, "direct")
    assert len(direct) == 9

    comfy.restart()
    choices = comfy.get_json("/object_info/DVLoadLatent")["DVLoadLatent"]["input"]["required"]["latent"][0]
    name = next(c for c in choices if saved[0].name in c)
    second = {"1": loader(), "2": {"class_type": "DVLoadLatent", "inputs": {"latent": name}},
              "3": decode(["1", 1], ["2", 0]), "4": save_image(["3", 0], "restart/reloaded")}
    comfy.run(second)
    reloaded = pngs(comfy, "reloaded")
    assert len(reloaded) == len(direct)
    assert all((a == b).all() for a, b in zip(direct, reloaded, strict=True))  # max diff 0
