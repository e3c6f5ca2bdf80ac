"""CogVideoX-Fun control: a control video wired into DVSampler's 'video' guides a Fun-control transformer; the node
graph against diffusers' CogVideoXFunControlPipeline, and its bad inputs."""

from __future__ import annotations

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.options import NODES as OPTION_NODES
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from parity import Shot, as_pil, assert_parity, graph_frames, reference_frames, tiny_model_fixtures

PROMPT = "a dancer spins on a stage"
NEGATIVE = "blurry"
W, H, F, STEPS, SEED = 64, 48, 9, 3, 321
SHOT = Shot(W, H, F, STEPS, guidance=6.0, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=226)
CogVideoXOptions = next(node for node in OPTION_NODES if node.__name__ == "DVCogVideoXOptions")


def control_frames(count: int, height: int = H, width: int = W) -> torch.Tensor:
    """A moving bright bar on black, as an edge or pose map looks: IMAGE [F, H, W, 3] at 8-bit values."""
    x = torch.arange(width)[None, :].float()
    y = torch.arange(height)[:, None].float()
    frames = []
    for t in range(count):
        bar = ((x - 4 - 5 * t).abs() < 3).float() * torch.ones_like(y)
        ring = (((x - width / 2) ** 2 + (y - height / 2) ** 2).sqrt() - 6 - t).abs() < 1.5
        frames.append(torch.stack([bar, ring.float(), (bar + ring.float()).clamp(0, 1)], -1))
    return torch.stack(frames)


fun_dir, fun_parts = tiny_model_fixtures("cogvideox_fun_control", "tiny-cogvideox-fun-control")
t2v_dir, t2v_parts = tiny_model_fixtures("cogvideox")


def graph(parts, shot: Shot = SHOT, **sampler_inputs):
    return graph_frames(parts, shot, tiling="auto", vae=parts[1], **sampler_inputs)


def test_control_matches_pipeline(fun_parts, fun_dir):
    from diffusers import CogVideoXFunControlPipeline

    video = control_frames(F)
    pipe = CogVideoXFunControlPipeline.from_pretrained(fun_dir)
    expected = reference_frames(pipe, SHOT, control_video=as_pil(video))
    diff = assert_parity(graph(fun_parts, video=video), expected)
    print(f"CogVideoX-Fun control parity: max |diff| {diff:.3g}")


def test_control_at_another_size_and_length_matches_pipeline(fun_parts, fun_dir):
    from diffusers import CogVideoXFunControlPipeline

    shot = SHOT.but(width=96, height=64, frames=5, steps=2, seed=7)
    video = control_frames(5, 64, 96)
    pipe = CogVideoXFunControlPipeline.from_pretrained(fun_dir)
    expected = reference_frames(pipe, shot, control_video=as_pil(video))
    diff = assert_parity(graph(fun_parts, shot, video=video), expected)
    print(f"CogVideoX-Fun control parity (96x64, 5 frames): max |diff| {diff:.3g}")


def test_the_control_video_steers_the_result(fun_parts):
    moving = graph(fun_parts, video=control_frames(F))
    still = graph(fun_parts, video=control_frames(1).repeat(F, 1, 1, 1))
    assert (moving - still).abs().mean() > 1e-3


def sampler_error(parts, **inputs) -> str:
    model, vae, text_encoder, _ = parts
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 226, True)
    with pytest.raises(DVInputError) as info:
        DVSampler().sample(model, W, H, inputs.pop("num_frames", F), 2, 6.0, 0, conditioning=cond,
                           **({"vae": vae} | inputs))
    return str(info.value)


def test_control_frame_count_differs_from_num_frames(fun_parts):
    message = sampler_error(fun_parts, video=control_frames(5), num_frames=9)
    assert "DVSampler: input 'video'" in message and "5 control frames" in message
    assert "exactly 9 control frames" in message


def test_longer_control_video_is_refused_too(fun_parts):
    message = sampler_error(fun_parts, video=control_frames(13), num_frames=9)
    assert "DVSampler: input 'video'" in message and "exactly 9" in message


def test_fun_control_model_without_control_video(fun_parts):
    message = sampler_error(fun_parts)
    assert "DVSampler: input 'video'" in message and "needs a control video" in message


def test_fun_control_model_with_an_image(fun_parts):
    message = sampler_error(fun_parts, image=control_frames(1), video=control_frames(F))
    assert "DVSampler: input 'image'" in message and "takes no image" in message


def test_fun_control_without_vae(fun_parts):
    message = sampler_error(fun_parts, video=control_frames(F), vae=None)
    assert "DVSampler: input 'vae'" in message


def test_strength_does_not_apply_to_control(fun_parts):
    (options,) = CogVideoXOptions().build(use_dynamic_cfg=False, strength=0.5)
    message = sampler_error(fun_parts, video=control_frames(F), options=options)
    assert "DVSampler: input 'options'" in message and "control video" in message


def test_text_to_video_model_still_runs_video_to_video(t2v_parts):
    """A video wired into a plain CogVideoX is still video-to-video, not control."""
    from diffusers_video.families import cogvideox

    assert not cogvideox.is_fun_control_model(t2v_parts[0])
    message = sampler_error(t2v_parts, video=control_frames(5), num_frames=9)
    assert "fewer than num_frames 9" in message


def test_control_frames_of_another_aspect_are_refused(fun_parts):
    message = sampler_error(fun_parts, video=control_frames(F, 48, 48))
    assert "DVSampler: input 'video'" in message and "resize_mode" in message
