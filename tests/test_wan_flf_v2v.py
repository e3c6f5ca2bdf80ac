"""Wan first-last-frame (DVWanOptions' last_image with WanImageToVideoPipeline: Wan2.1-FLF2V and Wan2.2 I2V A14B)
and Wan video-to-video (DVSampler's 'video' on a Wan2.1 text-to-video model, WanVideoToVideoPipeline): the node
graph against the pipelines, and the bad inputs of both."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.options import NODES as OPTION_NODES
from parity import Shot, as_pil, assert_parity, graph_frames, reference_frames, sample_latent, tiny_model_fixtures

PROMPT, NEGATIVE = "a paper boat drifts down a rainy street", "static, blurry"
W, H, F, STEPS, SEED = 32, 32, 5, 3, 17
SHOT = Shot(W, H, F, STEPS, guidance=5.0, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=512)
WanOptions = next(node for node in OPTION_NODES if node.__name__ == "DVWanOptions")

flf_path, flf_parts = tiny_model_fixtures("wan_flf2v", "tiny-wan-flf2v")
i2v_path, i2v_parts = tiny_model_fixtures("wan_i2v", "tiny-wan-i2v")
a14b_i2v_path, a14b_i2v_parts = tiny_model_fixtures("wan22_i2v_a14b", "tiny-wan22-i2v-a14b")
t2v_path, t2v_parts = tiny_model_fixtures("wan")


def picture(shift: float, height: int = H, width: int = W) -> torch.Tensor:
    """IMAGE [1, H, W, 3] at 8-bit values: ramps and a diagonal band that `shift` moves."""
    y = torch.linspace(0, 1, height)[:, None]
    x = torch.linspace(0, 1, width)[None, :]
    band = (((x + y + shift) * 3) % 1 > 0.5).float()
    return (torch.stack([x * torch.ones_like(y), band, (1 - y) * torch.ones_like(x)], -1)[None] * 255).round() / 255


def video(count: int, height: int = H, width: int = W) -> torch.Tensor:
    return torch.cat([picture(t / count, height, width) for t in range(count)])


def options(**values):
    values = {"guidance_scale_2": -1.0, "strength": 0.8, "conditioning_scale": 1.0, **values}
    return WanOptions().build(**values)[0]


def refused(parts, input_name: str, says: str, shot: Shot = SHOT, **inputs) -> str:
    with pytest.raises(DVInputError) as info:
        graph_frames(parts, shot, **inputs)
    message = str(info.value)
    assert f"DVSampler: input '{input_name}'" in message and says in message and "Valid:" in message, message
    return message


# ---------------------------------------------------------------------------------------- first-last-frame


@pytest.mark.parametrize("guidance", [5.0, 1.0], ids=["cfg", "no-cfg"])
def test_flf2v_matches_pipeline(flf_parts, flf_path, guidance):
    from diffusers import WanImageToVideoPipeline

    shot = SHOT.but(guidance=guidance)
    first, last = picture(0.0), picture(0.5)
    frames = graph_frames(flf_parts, shot, vae=flf_parts[1], image=first, options=options(last_image=last))
    expected = reference_frames(WanImageToVideoPipeline.from_pretrained(flf_path), shot, image=as_pil(first)[0],
                                last_image=as_pil(last)[0])
    diff = assert_parity(frames, expected)
    print(f"Wan2.1 FLF2V ({'cfg' if guidance > 1 else 'no cfg'}) parity: max |diff| {diff:.3g}")
    if guidance > 1:  # the last frame reaches the model (its latents: the tiny VAE's decoder flattens differences)
        latents = [sample_latent(flf_parts, shot, vae=flf_parts[1], image=first, options=options(last_image=last_one))
                   for last_one in (last, picture(0.25))]
        assert (latents[0]["samples"] - latents[1]["samples"]).abs().max() > 1e-3


def test_wan22_i2v_a14b_with_a_last_frame_matches_pipeline(a14b_i2v_parts, a14b_i2v_path):
    """Wan2.2 I2V A14B has no CLIP input: the last frame conditions it through the VAE latents alone."""
    from diffusers import WanImageToVideoPipeline

    shot = SHOT.but(steps=4)
    first, last = picture(0.0), picture(0.5)
    frames = graph_frames(a14b_i2v_parts, shot, vae=a14b_i2v_parts[1], image=first, options=options(last_image=last))
    expected = reference_frames(WanImageToVideoPipeline.from_pretrained(a14b_i2v_path), shot,
                                image=as_pil(first)[0], last_image=as_pil(last)[0])
    diff = assert_parity(frames, expected)
    print(f"Wan2.2 I2V A14B first-last-frame parity: max |diff| {diff:.3g}")


def test_flf2v_without_a_last_frame_is_refused(flf_parts):
    refused(flf_parts, "last_image", "DVWanOptions' last_image", vae=flf_parts[1], image=picture(0.0))


def test_last_frame_of_another_size_is_refused(flf_parts):
    message = refused(flf_parts, "last_image", "the last frame is 48x32, the first 32x32", vae=flf_parts[1],
                      image=picture(0.0), options=options(last_image=picture(0.5, 32, 48)))
    assert "a last frame of 32x32" in message


def test_last_frame_without_a_first_is_refused(t2v_parts):
    refused(t2v_parts, "last_image", "the first frame (an IMAGE) into 'image'", options=options(last_image=picture(0)))


def test_last_frame_on_a_wan21_i2v_model_is_refused(i2v_parts):
    refused(i2v_parts, "last_image", "Wan2.1-FLF2V", vae=i2v_parts[1], image=picture(0.0),
            options=options(last_image=picture(0.5)))


# ---------------------------------------------------------------------------------------------- video-to-video

V2V = SHOT.but(width=48, height=32, frames=9, steps=4)


@pytest.mark.parametrize("strength", [0.8, 0.5], ids=["strength-0.8", "strength-0.5"])
def test_video_to_video_matches_pipeline(t2v_parts, t2v_path, strength):
    """An 11-frame input for 9 frames: the graph hands the pipeline the first 9, as a guide user would."""
    from diffusers import WanVideoToVideoPipeline

    clip = video(11, 32, 48)
    frames = graph_frames(t2v_parts, V2V, vae=t2v_parts[1], video=clip, options=options(strength=strength))
    expected = reference_frames(WanVideoToVideoPipeline.from_pretrained(t2v_path), V2V,
                                video=as_pil(clip[:9]), strength=strength)
    diff = assert_parity(frames, expected)
    print(f"Wan video-to-video (strength {strength}) parity: max |diff| {diff:.3g}")


@pytest.mark.parametrize("strength", [1.5, -0.1])
def test_strength_out_of_range_is_refused_by_the_options_node(strength):
    with pytest.raises(DVInputError) as info:
        options(strength=strength)
    message = str(info.value)
    assert "DVWanOptions: input 'strength'" in message and "a number from 0 to 1" in message, message


def test_strength_that_leaves_no_step_is_refused(t2v_parts):
    refused(t2v_parts, "options", "leaves no denoising step", V2V, vae=t2v_parts[1], video=video(9, 32, 48),
            options=options(strength=0.2))


def test_strength_without_a_video_is_refused(t2v_parts):
    refused(t2v_parts, "options", "strength back at its default 0.8", options=options(strength=0.5))


def test_video_shorter_than_num_frames_is_refused(t2v_parts):
    refused(t2v_parts, "video", "7 frames wired in, fewer than num_frames 9", V2V, vae=t2v_parts[1],
            video=video(7, 32, 48))


def test_video_to_video_needs_a_wan21_text_to_video_model_and_its_vae(t2v_parts, i2v_parts):
    refused(t2v_parts, "vae", "encodes the video with its VAE", V2V, video=video(9, 32, 48))
    refused(i2v_parts, "video", "takes no video", vae=i2v_parts[1], image=picture(0.0), video=video(5))
    two_experts = dataclasses.replace(t2v_parts[0], pipeline_config={"boundary_ratio": 0.875})
    refused((two_experts, *t2v_parts[1:]), "video", "a Wan2.1 text-to-video model", V2V, vae=t2v_parts[1],
            video=video(9, 32, 48))
