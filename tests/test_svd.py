"""Stable Video Diffusion: the node graph against StableVideoDiffusionPipeline on a tiny offline model."""

from __future__ import annotations

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.loaders import DVPipelineLoader
from diffusers_video.nodes.options import NODES as OPTION_NODES
from diffusers_video.nodes.sampling import DVSampler
from parity import Shot, as_pil, assert_parity, graph_frames, reference_frames, tiny_model_fixtures

W, H, F, STEPS, SEED = 64, 48, 6, 3, 5
SHOT = Shot(W, H, F, STEPS, guidance=3.0, seed=SEED)  # no prompt: SVD is driven by the image alone
SVDOptions = next(node for node in OPTION_NODES if node.__name__ == "DVSVDOptions")


def picture(height=H, width=W) -> torch.Tensor:
    y = torch.linspace(0, 1, height)[:, None]
    x = torch.linspace(0, 1, width)[None, :]
    return torch.stack([x + 0 * y, y + 0 * x, (x * y) % 1], -1)[None]


path, parts = tiny_model_fixtures("svd")


def run_graph(parts, chunk=0, options=None, guidance=3.0):
    return graph_frames(parts, SHOT.but(guidance=guidance), chunk, vae=parts[1], image=picture(), options=options)


def reference(path, chunk=None, **kwargs):
    from diffusers import StableVideoDiffusionPipeline

    pipe = StableVideoDiffusionPipeline.from_pretrained(path)
    return reference_frames(pipe, SHOT, image=as_pil(picture())[0], decode_chunk_size=chunk, **kwargs)


def test_graph_matches_pipeline(parts, path):
    assert_parity(run_graph(parts), reference(path, max_guidance_scale=3.0))


def test_options_reach_the_pipeline(parts, path):
    (options,) = SVDOptions().build(fps=12, motion_bucket_id=200, noise_aug_strength=0.1, min_guidance_scale=1.5)
    frames = run_graph(parts, options=options, guidance=2.5)
    expected = reference(path, fps=12, motion_bucket_id=200, noise_aug_strength=0.1, min_guidance_scale=1.5,
                         max_guidance_scale=2.5)
    assert_parity(frames, expected)
    assert (frames - run_graph(parts)).abs().max() > 1e-4  # and they change the video


def test_decode_chunk_size_matches_pipelines_chunked_decode(parts, path):
    assert_parity(run_graph(parts, chunk=2), reference(path, chunk=2, max_guidance_scale=3.0))


def sampler_error(parts, **inputs) -> str:
    model, vae, _, _ = parts
    inputs = {"vae": vae, "image": picture(), **inputs}
    with pytest.raises(DVInputError) as info:
        DVSampler().sample(model, inputs.pop("width", W), H, F, 1, 3.0, 0, **inputs)
    return str(info.value)


def test_needs_an_image(parts):
    assert "DVSampler: input 'image'" in sampler_error(parts, image=None)


def test_needs_the_vae(parts):
    assert "DVSampler: input 'vae'" in sampler_error(parts, vae=None)


def test_text_is_refused(parts, tiny_models_dir):
    from diffusers_video.nodes.sampling import DVTextEncode

    with torch.inference_mode():
        _, _, text_encoder, _ = DVPipelineLoader().load("tiny-cogvideox", "fp32")
        (cond,) = DVTextEncode().encode(text_encoder, "a cat", "", 226, True)
    assert "DVSampler: input 'conditioning'" in sampler_error(parts, conditioning=cond)


def test_size_must_fit_the_vae(parts):
    message = sampler_error(parts, width=63)
    assert "DVSampler: input 'width'" in message
