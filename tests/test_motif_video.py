"""Motif-Video text-to-video: the node graph against MotifVideoPipeline on a tiny offline model, its guidance
done by the folder's guider with DVSampler's guidance_scale (as `pipe.guider.new(guidance_scale=...)`)."""

from __future__ import annotations

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from parity import Shot, assert_parity, graph_frames, load_parts, reference_frames, tiny_model_fixtures

PROMPT = "a woman with long brown hair smiles in warm evening light"
NEGATIVE = "worst quality, jittery"
W, H, F, STEPS, SEED = 32, 32, 9, 3, 13
SHOT = Shot(W, H, F, STEPS, guidance=7.5, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=32)

path, parts = tiny_model_fixtures("motif_video")


def reference(folder: str, shot: Shot = SHOT) -> torch.Tensor:
    from diffusers import MotifVideoPipeline

    pipe = MotifVideoPipeline.from_pretrained(folder)
    pipe.guider = pipe.guider.new(guidance_scale=shot.guidance)
    return reference_frames(pipe, shot)


@pytest.mark.parametrize("guidance", [7.5, 3.0, 1.0], ids=["default", "lower", "off"])
def test_text_to_video_matches_pipeline(parts, path, guidance):
    shot = SHOT.but(guidance=guidance)
    frames = graph_frames(parts, shot)
    assert frames.shape == (F, H, W, 3)
    assert_parity(frames, reference(path, shot))


def test_guidance_scale_reaches_the_guider(parts):
    assert (graph_frames(parts, SHOT) - graph_frames(parts, SHOT.but(guidance=3.0))).abs().max().item() > 1e-3


def refused(input_name: str, match: str, call) -> str:
    with pytest.raises(DVInputError, match=match) as info, torch.inference_mode():
        call()
    assert info.value.node == "DVSampler" and info.value.input_name == input_name
    assert f"DVSampler: input '{input_name}'" in str(info.value)
    return str(info.value)


def test_bad_inputs_name_node_input_and_what_is_valid(parts):
    model, vae, text_encoder, _ = parts
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 32, True)
    _, cog_vae, _, _ = load_parts("tiny-cogvideox")

    def sampler(**changes):
        args = {"width": W, "height": H, "num_frames": F, "num_inference_steps": STEPS, "guidance_scale": 7.5,
                "seed": SEED, "conditioning": cond} | changes
        return lambda: DVSampler().sample(model, **args)

    refused("num_frames", "cannot produce 10 frames.*nearest: 9 or 13", sampler(num_frames=10))
    refused("width", "not divisible by 8.*nearest: 16 or 24", sampler(width=20))
    refused("height", "not divisible by 8", sampler(height=36))
    refused("image", "takes no image", sampler(image=torch.rand(1, H, W, 3)))
    refused("video", "takes no video", sampler(video=torch.rand(F, H, W, 3)))
    refused("vae", "CogVideoX VAE.*same Motif-Video folder", sampler(vae=cog_vae))
    refused("conditioning", "nothing is wired in", sampler(conditioning=None))
