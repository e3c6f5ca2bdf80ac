"""Allegro text-to-video: the node graph against AllegroPipeline on a tiny offline model (its VAE one 128-pixel,
24-frame decoding tile), and the VAE's tile grid refused in DV words where the pipeline would decode black."""

from __future__ import annotations

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from diffusers_video.nodes.vae import DVVAEDecode
from parity import Shot, assert_parity, decode, load_parts, reference_frames, sample_latent, tiny_model_fixtures

PROMPT, NEGATIVE = "a red panda plays guitar in a bamboo forest", "blurry, low quality"
W, H, F, STEPS, SEED = 128, 128, 24, 2, 5
SHOT = Shot(W, H, F, STEPS, guidance=7.5, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=16)

path, parts = tiny_model_fixtures("allegro")


def reference(folder: str, shot: Shot = SHOT, output_type: str = "np") -> torch.Tensor:
    """AllegroPipeline as its example runs it: VAE tiling on (the only decode it has)."""
    from diffusers import AllegroPipeline

    pipe = AllegroPipeline.from_pretrained(folder)
    pipe.vae.enable_tiling()
    return reference_frames(pipe, shot, output_type=output_type)


def test_text_to_video_matches_pipeline(parts, path):
    # The VAE goes into DVSampler too, so the size is checked against its own tile grid (not the released one).
    latent = sample_latent(parts, SHOT, vae=parts[1])
    frames = decode(parts, latent)
    assert frames.shape == (F, H, W, 3)
    diff = assert_parity(frames, reference(path))
    print(f"allegro t2v max |diff| {diff:.3g}")


def test_latents_without_guidance_match_pipeline(parts, path):
    shot = SHOT.but(guidance=1.0)
    latent = sample_latent(parts, shot, vae=parts[1])["samples"]
    assert latent.shape == (1, 4, F // 4, H // 8, W // 8)
    diff = assert_parity(latent, reference(path, shot, output_type="latent"))
    print(f"allegro t2v (no cfg) latents max |diff| {diff:.3g}")


def refused(node: str, input_name: str, match: str, call) -> DVInputError:
    with pytest.raises(DVInputError, match=match) as info, torch.inference_mode():
        call()
    assert info.value.node == node and info.value.input_name == input_name
    assert f"{node}: input '{input_name}'" in str(info.value)
    return info.value


def test_bad_inputs_name_node_and_input(parts):
    model, vae, text_encoder, _ = parts
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 16, True)

    def sampler(**changes):
        args = {"width": W, "height": H, "num_frames": F, "num_inference_steps": STEPS, "guidance_scale": 7.5,
                "seed": SEED, "conditioning": cond, "vae": vae} | changes
        return lambda: DVSampler().sample(model, **args)

    refused("DVSampler", "num_frames", "cannot produce 25 frames.*16k\\+8.*nearest: 24 or 40", sampler(num_frames=25))
    refused("DVSampler", "num_frames", "cannot produce 8 frames.*nearest: 24", sampler(num_frames=8))
    refused("DVSampler", "width", "not divisible by 16", sampler(width=136))
    # A multiple of 16 the tiny VAE's 128-pixel tiles (every 48 columns) do not cover: 144 -> 128 or 176.
    refused("DVSampler", "width", "decoding tiles.*would decode black.*nearest: 128 or 176", sampler(width=144))
    # Without the VAE the released one's grid applies (320-pixel tiles): 128 is below one tile.
    refused("DVSampler", "width", "released VAE.*nearest: 320", sampler(vae=None))
    err = refused("DVSampler", "height", "released VAE.*nearest: 320 or 720", sampler(vae=None, width=1280, height=480))
    assert "320, 720, 1120" in str(err)
    refused("DVSampler", "width", "nearest: 1040 or 1280", sampler(vae=None, height=720, width=1200))
    refused("DVSampler", "image", "text-to-video only", sampler(image=torch.rand(1, H, W, 3)))
    refused("DVSampler", "conditioning", "nothing is wired in", sampler(conditioning=None))
    refused("DVTextEncode", "prompt", "over the text encoder's 16",
            lambda: DVTextEncode().encode(text_encoder, " ".join(["panda"] * 40), NEGATIVE, 16, False))
    # A latent off the tile grid (e.g. from a LATENT file) is refused before decoding.
    off_grid = {"samples": torch.zeros(1, 4, 6, 16, 18), "dv_family": "allegro", "dv_num_frames": 24}
    refused("DVVAEDecode", "samples", "not a whole number of this VAE's decoding tiles",
            lambda: DVVAEDecode().decode(vae, off_grid, 0, "off", 0, 0.0))


def test_other_familys_text_encoder_and_vae_are_refused(parts):
    model, vae, text_encoder, _ = parts
    _, cog_vae, cog_text_encoder, _ = load_parts("tiny-cogvideox")
    with torch.inference_mode():
        (cog_cond,) = DVTextEncode().encode(cog_text_encoder, PROMPT, NEGATIVE, 226, True)
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 16, True)
    refused("DVSampler", "conditioning", "CogVideoX text encoder",
            lambda: DVSampler().sample(model, W, H, F, STEPS, 7.5, SEED, conditioning=cog_cond, vae=vae))
    refused("DVSampler", "vae", "CogVideoX VAE",
            lambda: DVSampler().sample(model, W, H, F, STEPS, 7.5, SEED, conditioning=cond, vae=cog_vae))
    latent = {"samples": torch.zeros(1, 4, 6, 16, 16), "dv_family": "allegro", "dv_num_frames": 24}
    refused("DVVAEDecode", "vae", "made by a allegro model",
            lambda: DVVAEDecode().decode(cog_vae, latent, 0, "off", 0, 0.0))
