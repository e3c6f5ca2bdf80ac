"""CogVideoX image-to-video and video-to-video: the node graph against the diffusers pipelines."""

from __future__ import annotations

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.loaders import DVPipelineLoader
from diffusers_video.nodes.options import NODES as OPTION_NODES
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from diffusers_video.nodes.vae import DVVAEDecode

PROMPT = "a red panda waves at the camera"
NEGATIVE = "blurry"
W, H, F, STEPS, SEED = 64, 48, 9, 3, 321
PARITY_TOLERANCE = 1e-5  # fp32 CPU; the graph calls the same pipelines on the same tensors (measured 0.0)
CogVideoXOptions = next(node for node in OPTION_NODES if node.__name__ == "DVCogVideoXOptions")


def synthetic_frames(count: int, height: int = H, width: int = W) -> torch.Tensor:
    """A moving gradient as a ComfyUI IMAGE batch [F, H, W, 3] in 0..1."""
    y = torch.linspace(0, 1, height)[:, None]
    x = torch.linspace(0, 1, width)[None, :]
    frames = [torch.stack([(x + t / count) % 1 * torch.ones_like(y), y * torch.ones_like(x), (x * y + t / 7) % 1], -1)
              for t in range(count)]
    return torch.stack(frames).float()


@pytest.fixture(scope="module")
def i2v_dir(tiny_models_dir):
    import os

    from diffusers_video.tiny_models.cache import install_into_models_dir

    install_into_models_dir(tiny_models_dir, "cogvideox_i2v", "tiny-cogvideox-i2v")
    return os.path.join(tiny_models_dir, "diffusers", "tiny-cogvideox-i2v")


@pytest.fixture(scope="module")
def i2v_parts(i2v_dir):
    with torch.inference_mode():
        return DVPipelineLoader().load("tiny-cogvideox-i2v", "fp32")


@pytest.fixture(scope="module")
def t2v_parts(tiny_models_dir):
    with torch.inference_mode():
        return DVPipelineLoader().load("tiny-cogvideox", "fp32")


def graph(parts, **sampler_inputs):
    model, vae, text_encoder, _ = parts
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 226, True)
        (latent,) = DVSampler().sample(model, W, H, F, STEPS, 6.0, SEED, conditioning=cond, vae=vae,
                                       **sampler_inputs)
        return DVVAEDecode().decode(vae, latent, 0, "auto", 0, 0.0)[0]


def test_image_to_video_matches_pipeline(i2v_parts, i2v_dir):
    from diffusers import CogVideoXImageToVideoPipeline

    image = synthetic_frames(1)
    frames = graph(i2v_parts, image=image)
    pipe = CogVideoXImageToVideoPipeline.from_pretrained(i2v_dir)
    expected = pipe(image=image.permute(0, 3, 1, 2), prompt=PROMPT, negative_prompt=NEGATIVE, width=W, height=H,
                    num_frames=F, num_inference_steps=STEPS, guidance_scale=6.0,
                    generator=torch.Generator("cpu").manual_seed(SEED), output_type="np").frames[0]
    assert frames.shape == (F, H, W, 3)
    assert (frames - torch.from_numpy(expected)).abs().max().item() <= PARITY_TOLERANCE


def test_video_to_video_matches_pipeline(t2v_parts, tiny_cogvideox_path):
    from diffusers import CogVideoXVideoToVideoPipeline

    video = synthetic_frames(F)
    (options,) = CogVideoXOptions().build(use_dynamic_cfg=False, strength=0.6)
    frames = graph(t2v_parts, video=video, options=options)
    pipe = CogVideoXVideoToVideoPipeline.from_pretrained(tiny_cogvideox_path)
    expected = pipe(video=video.permute(0, 3, 1, 2), prompt=PROMPT, negative_prompt=NEGATIVE, width=W, height=H,
                    num_inference_steps=STEPS, guidance_scale=6.0, strength=0.6,
                    generator=torch.Generator("cpu").manual_seed(SEED), output_type="np").frames[0]
    assert frames.shape == (F, H, W, 3)
    assert (frames - torch.from_numpy(expected)).abs().max().item() <= PARITY_TOLERANCE


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
