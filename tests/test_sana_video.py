"""Sana-Video text- and image-to-video: the node graph against SanaVideoPipeline / SanaImageToVideoPipeline on
tiny offline models (the text-to-video folder with its DPM-Solver++ flow scheduler, the image-to-video folder
with FlowMatch Euler), prompts encoded with the pipelines' default complex human instruction."""

from __future__ import annotations

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from diffusers_video.nodes.vae import DVVAEDecode
from parity import Shot, as_pil, assert_parity, graph_frames, load_parts, reference_frames, tiny_model_fixtures

PROMPT, NEGATIVE = "a red panda plays guitar in a bamboo forest. motion score: 30.", "blurry, low quality"
W, H, F, STEPS, SEED = 64, 32, 9, 3, 11
SHOT = Shot(W, H, F, STEPS, guidance=6.0, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=32)


def first_frame() -> torch.Tensor:
    y = torch.linspace(0, 1, H)[:, None]
    x = torch.linspace(0, 1, W)[None, :]
    return torch.stack([x * torch.ones_like(y), y * torch.ones_like(x), (x * y) % 1], -1)[None]


path, parts = tiny_model_fixtures("sana_video", "tiny-sana-video")
i2v_path, i2v_parts = tiny_model_fixtures("sana_video_i2v", "tiny-sana-video-i2v")


def reference(folder: str, task: str = "t2v", shot: Shot = SHOT, pipeline_folder: str | None = None):
    """The diffusers pipeline of the task, loaded from `pipeline_folder` (default: the folder itself), called as
    the guide calls it but at the node's exact size (no resolution binning)."""
    from diffusers import SanaImageToVideoPipeline, SanaVideoPipeline

    cls = SanaImageToVideoPipeline if task == "i2v" else SanaVideoPipeline
    pipe = cls.from_pretrained(pipeline_folder or folder)
    extra = {"image": as_pil(first_frame())[0]} if task == "i2v" else {}
    return reference_frames(pipe, shot, frames=shot.frames, use_resolution_binning=False, **extra)


@pytest.mark.parametrize("guidance", [6.0, 1.0], ids=["cfg", "no-cfg"])
def test_text_to_video_matches_pipeline(parts, path, guidance):
    shot = SHOT.but(guidance=guidance)
    frames = graph_frames(parts, shot)
    assert frames.shape == (F, H, W, 3)
    assert_parity(frames, reference(path, shot=shot))


@pytest.mark.parametrize("guidance", [6.0, 1.0], ids=["cfg", "no-cfg"])
def test_image_to_video_matches_pipeline(i2v_parts, i2v_path, guidance):
    shot = SHOT.but(guidance=guidance)
    frames = graph_frames(i2v_parts, shot, vae=i2v_parts[1], image=first_frame())
    assert frames.shape == (F, H, W, 3)
    assert_parity(frames, reference(i2v_path, "i2v", shot))


def test_image_to_video_on_the_text_to_video_folder_matches_pipeline(parts, path):
    """One DiT does both: an image wired into the text-to-video folder's model runs SanaImageToVideoPipeline
    with that folder's own scheduler, as the pipeline loaded from the same folder does."""
    frames = graph_frames(parts, SHOT, vae=parts[1], image=first_frame())
    assert_parity(frames, reference(path, "i2v"))
    assert (frames - graph_frames(parts, SHOT)).abs().max().item() > 1e-3  # the image changes the video


def test_image_to_video_folder_without_an_image_makes_video_from_text(i2v_parts, i2v_path):
    """An image-to-video folder given no image runs text-to-video with its scheduler (the same DiT)."""
    from diffusers import SanaImageToVideoPipeline, SanaVideoPipeline

    i2v = SanaImageToVideoPipeline.from_pretrained(i2v_path)
    pipe = SanaVideoPipeline(**i2v.components)
    frames = graph_frames(i2v_parts, SHOT)
    assert_parity(frames, reference_frames(pipe, SHOT, frames=F, use_resolution_binning=False))


def refused(node: str, input_name: str, match: str, call) -> DVInputError:
    with pytest.raises(DVInputError, match=match) as info, torch.inference_mode():
        call()
    assert info.value.node == node and info.value.input_name == input_name
    assert f"{node}: input '{input_name}'" in str(info.value)
    return info.value


def test_bad_inputs_name_node_and_input(parts):
    model, vae, text_encoder, _ = parts
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 32, True)

    def sampler(**changes):
        args = {"width": W, "height": H, "num_frames": F, "num_inference_steps": STEPS, "guidance_scale": 6.0,
                "seed": SEED, "conditioning": cond} | changes
        return lambda: DVSampler().sample(model, **args)

    refused("DVSampler", "num_frames", "cannot produce 12 frames.*nearest: 9 or 13", sampler(num_frames=12))
    refused("DVSampler", "width", "not divisible by 32.*pipeline takes multiples of 32", sampler(width=48))
    refused("DVSampler", "height", "not divisible by 32", sampler(height=16 * 3))
    refused("DVSampler", "vae", "encodes the image with its VAE", sampler(image=first_frame()))
    refused("DVSampler", "video", "takes no video", sampler(video=first_frame()))
    refused("DVSampler", "conditioning", "nothing is wired in", sampler(conditioning=None))
    refused("DVTextEncode", "prompt", "over the text encoder's 31",
            lambda: DVTextEncode().encode(text_encoder, " ".join(["panda"] * 40), NEGATIVE, 32, False))


def test_other_familys_text_encoder_and_vae_are_refused(parts):
    model, vae, _, _ = parts
    _, cog_vae, cog_text_encoder, _ = load_parts("tiny-cogvideox")
    with torch.inference_mode():
        (cog_cond,) = DVTextEncode().encode(cog_text_encoder, PROMPT, NEGATIVE, 226, True)
        (cond,) = DVTextEncode().encode(parts[2], PROMPT, NEGATIVE, 32, True)
        (latent,) = DVSampler().sample(model, W, H, F, 1, 6.0, SEED, conditioning=cond)
    refused("DVSampler", "conditioning", "CogVideoX text encoder",
            lambda: DVSampler().sample(model, W, H, F, STEPS, 6.0, SEED, conditioning=cog_cond))
    refused("DVSampler", "vae", "CogVideoX VAE", lambda: DVSampler().sample(
        model, W, H, F, STEPS, 6.0, SEED, conditioning=cond, vae=cog_vae, image=first_frame()))
    refused("DVVAEDecode", "vae", "made by a sana_video model",
            lambda: DVVAEDecode().decode(cog_vae, latent, 0, "off", 0, 0.0))

