"""CogVideoX image-to-video and video-to-video: the node graph against the diffusers pipelines."""

from __future__ import annotations

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.options import NODES as OPTION_NODES
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from parity import Shot, as_pil, assert_parity, graph_frames, reference_frames, tiny_model_fixtures

PROMPT = "a red panda waves at the camera"
NEGATIVE = "blurry"
W, H, F, STEPS, SEED = 64, 48, 9, 3, 321
SHOT = Shot(W, H, F, STEPS, guidance=6.0, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=226)
CogVideoXOptions = next(node for node in OPTION_NODES if node.__name__ == "DVCogVideoXOptions")


def synthetic_frames(count: int, height: int = H, width: int = W) -> torch.Tensor:
    """A moving gradient as a ComfyUI IMAGE batch [F, H, W, 3] in 0..1, at 8-bit values as loaded from files."""
    y = torch.linspace(0, 1, height)[:, None]
    x = torch.linspace(0, 1, width)[None, :]
    frames = [torch.stack([(x + t / count) % 1 * torch.ones_like(y), y * torch.ones_like(x), (x * y + t / 7) % 1], -1)
              for t in range(count)]
    return (torch.stack(frames).float() * 255).round() / 255


i2v_dir, i2v_parts = tiny_model_fixtures("cogvideox_i2v", "tiny-cogvideox-i2v")
t2v_dir, t2v_parts = tiny_model_fixtures("cogvideox")


def graph(parts, **sampler_inputs):
    return graph_frames(parts, SHOT, tiling="auto", vae=parts[1], **sampler_inputs)


def test_image_to_video_matches_pipeline(i2v_parts, i2v_dir):
    from diffusers import CogVideoXImageToVideoPipeline

    image = synthetic_frames(1)
    pipe = CogVideoXImageToVideoPipeline.from_pretrained(i2v_dir)
    assert_parity(graph(i2v_parts, image=image), reference_frames(pipe, SHOT, image=as_pil(image)[0]))


def test_video_to_video_matches_pipeline(t2v_parts, t2v_dir):
    from diffusers import CogVideoXVideoToVideoPipeline

    video = synthetic_frames(F)
    (options,) = CogVideoXOptions().build(use_dynamic_cfg=False, strength=0.6)
    pipe = CogVideoXVideoToVideoPipeline.from_pretrained(t2v_dir)
    assert_parity(graph(t2v_parts, video=video, options=options),
                  reference_frames(pipe, SHOT, video=as_pil(video), strength=0.6))


def test_strength_changes_how_much_of_the_video_survives(t2v_parts):
    video = synthetic_frames(F)
    light = graph(t2v_parts, video=video, options=CogVideoXOptions().build(use_dynamic_cfg=False, strength=0.4)[0])
    heavy = graph(t2v_parts, video=video, options=CogVideoXOptions().build(use_dynamic_cfg=False, strength=0.9)[0])
    assert (light - heavy).abs().mean() > 1e-3


def sampler_error(parts, **inputs) -> str:
    model, vae, text_encoder, _ = parts
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 226, True)
    inputs.setdefault("width", W)
    with pytest.raises(DVInputError) as info:
        DVSampler().sample(model, inputs.pop("width"), H, inputs.pop("num_frames", F), 2, 6.0, 0, conditioning=cond,
                           **({"vae": vae} | inputs))
    return str(info.value)


def test_image_into_text_to_video_model(t2v_parts):
    message = sampler_error(t2v_parts, image=synthetic_frames(1))
    assert "DVSampler: input 'image'" in message and "text-to-video" in message


def test_image_to_video_model_without_image(i2v_parts):
    message = sampler_error(i2v_parts)
    assert "DVSampler: input 'image'" in message and "needs a first frame" in message


def test_image_to_video_without_vae(i2v_parts):
    message = sampler_error(i2v_parts, image=synthetic_frames(1), vae=None)
    assert "DVSampler: input 'vae'" in message


def test_learned_positions_fix_the_size(i2v_parts):
    message = sampler_error(i2v_parts, image=synthetic_frames(1), width=96)
    assert "DVSampler: input 'width'" in message and "width 64, height 48" in message


def test_video_shorter_than_num_frames(t2v_parts):
    message = sampler_error(t2v_parts, video=synthetic_frames(5), num_frames=9)
    assert "DVSampler: input 'video'" in message and "5 frames" in message


def test_strength_that_leaves_no_step(t2v_parts):
    (options,) = CogVideoXOptions().build(use_dynamic_cfg=False, strength=0.3)
    message = sampler_error(t2v_parts, video=synthetic_frames(F), options=options)
    assert "DVSampler: input 'options'" in message and "no denoising step" in message


def test_image_and_video_together(t2v_parts):
    message = sampler_error(t2v_parts, video=synthetic_frames(9), image=synthetic_frames(1))
    assert "both an image and a video" in message
