"""ChronoEdit image editing: the node graph against ChronoEditPipeline on a tiny offline model, with and without
temporal reasoning (the trajectory kept to the end, as the guide runs it, and dropped after some steps)."""

from __future__ import annotations

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.model_loaders.components import DVSchedulerSpec
from diffusers_video.nodes.options import NODES as OPTION_NODES
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from parity import Shot, as_pil, assert_parity, graph_frames, load_parts, reference_frames, tiny_model_fixtures

PROMPT = "add a small mouse bathing in the floral teacup"
NEGATIVE = "blurry"
W, H, STEPS, SEED = 32, 32, 3, 5
SHOT = Shot(W, H, 5, STEPS, guidance=5.0, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=512)
ChronoEditOptions = next(node for node in OPTION_NODES if node.__name__ == "DVChronoEditOptions")

path, parts = tiny_model_fixtures("chronoedit")


def image_to_edit(height: int = H, width: int = W) -> torch.Tensor:
    y = torch.linspace(0, 1, height)[:, None]
    x = torch.linspace(0, 1, width)[None, :]
    image = torch.stack([x * torch.ones_like(y), y * torch.ones_like(x), (x * 3 + y * 2) % 1], -1)[None]
    return (image * 255).round() / 255


def reference(folder: str, shot: Shot = SHOT, **kwargs) -> torch.Tensor:
    from diffusers import ChronoEditPipeline

    pipe = ChronoEditPipeline.from_pretrained(folder)
    return reference_frames(pipe, shot, image=as_pil(image_to_edit())[0], **kwargs)


def options(reasoning_steps: int):
    return ChronoEditOptions().build(enable_temporal_reasoning=True, num_temporal_reasoning_steps=reasoning_steps)[0]


@pytest.mark.parametrize("guidance", [5.0, 1.0], ids=["cfg", "no-cfg"])
def test_image_edit_matches_pipeline(parts, path, guidance):
    shot = SHOT.but(guidance=guidance)
    frames = graph_frames(parts, shot, vae=parts[1], image=image_to_edit())
    assert frames.shape == (5, H, W, 3)
    assert_parity(frames, reference(path, shot))


def test_temporal_reasoning_trajectory_matches_pipeline(parts, path):
    """Reasoning for all the steps (the guide's 50 of 50): the whole 9-frame trajectory, decoded as the pipeline
    decodes it (reasoning frames, then the edit from the first and last latent frames)."""
    shot = SHOT.but(frames=9)
    frames = graph_frames(parts, shot, vae=parts[1], image=image_to_edit(), options=options(STEPS))
    assert frames.shape == (9, H, W, 3)
    assert_parity(frames, reference(path, shot, enable_temporal_reasoning=True, num_temporal_reasoning_steps=STEPS))


def test_temporal_reasoning_dropped_after_some_steps_matches_pipeline(parts, path):
    """Reasoning for 1 of 3 steps: the trajectory is dropped and the first and last frame finished (5 frames)."""
    shot = SHOT.but(frames=9)
    frames = graph_frames(parts, shot, vae=parts[1], image=image_to_edit(), options=options(1))
    assert frames.shape == (5, H, W, 3)
    assert_parity(frames, reference(path, shot, enable_temporal_reasoning=True, num_temporal_reasoning_steps=1))


def refused(input_name: str, match: str, call) -> str:
    with pytest.raises(DVInputError, match=match) as info, torch.inference_mode():
        call()
    assert info.value.node == "DVSampler" and info.value.input_name == input_name
    assert f"DVSampler: input '{input_name}'" in str(info.value)
    return str(info.value)


def test_bad_inputs_name_node_input_and_what_is_valid(parts):
    model, vae, text_encoder, _ = parts
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 512, True)
        (short,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 64, True)

    def sampler(**changes):
        args = {"width": W, "height": H, "num_frames": 5, "num_inference_steps": STEPS, "guidance_scale": 5.0,
                "seed": SEED, "conditioning": cond, "vae": vae, "image": image_to_edit()} | changes
        return lambda: DVSampler().sample(model, **args)

    refused("num_frames", "always makes 5.*enable_temporal_reasoning", sampler(num_frames=9))
    refused("num_frames", "cannot produce 8 frames.*nearest: 5 or 9", sampler(num_frames=8, options=options(3)))
    refused("options", "0 reasoning steps.*1 or more", sampler(num_frames=9, options=options(0)))
    euler = DVSchedulerSpec.from_config_dict("FlowMatchEulerDiscreteScheduler", {"shift": 5.0})
    refused("scheduler", "keeps no solver history.*multistep scheduler",
            sampler(num_frames=9, options=options(1), scheduler=euler))
    refused("width", "not divisible by 16.*nearest: 16 or 32", sampler(width=24))
    refused("height", "not divisible by 16", sampler(height=40))
    refused("image", "none is wired in.*Load Image", sampler(image=None))
    refused("video", "takes no video", sampler(video=image_to_edit()))
    refused("vae", "encodes the image with its VAE", sampler(vae=None))
    refused("conditioning", "needs exactly 512.*max_sequence_length 512", sampler(conditioning=short))


def test_other_familys_vae_is_refused(parts):
    model, _, text_encoder, _ = parts
    _, cog_vae, _, _ = load_parts("tiny-cogvideox")
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 512, True)
    refused("vae", "CogVideoX VAE.*same ChronoEdit folder", lambda: DVSampler().sample(
        model, W, H, 5, 2, 5.0, 0, conditioning=cond, vae=cog_vae, image=image_to_edit()))
