"""LTX-Video text- and image-to-video: the node graph against LTXPipeline / LTXImageToVideoPipeline, including
the timestep-conditioned decode with the noise the pipeline draws after its loop."""

from __future__ import annotations

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.loaders import DVPipelineLoader
from diffusers_video.nodes.options import NODES as OPTION_NODES
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from diffusers_video.nodes.vae import DVVAEDecode
from parity import Shot, as_pil, assert_parity, graph_frames, load_parts, reference_frames, tiny_model_fixtures

PROMPT, NEGATIVE = "a sailing boat on a stormy sea", "worst quality, blurry"
W, H, F, STEPS, SEED = 64, 32, 9, 3, 17
SHOT = Shot(W, H, F, STEPS, guidance=3.0, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=128)
LTXOptions = next(node for node in OPTION_NODES if node.__name__ == "DVLTXOptions")


def first_frame() -> torch.Tensor:
    y = torch.linspace(0, 1, H)[:, None]
    x = torch.linspace(0, 1, W)[None, :]
    return torch.stack([x * torch.ones_like(y), y * torch.ones_like(x), (x * y) % 1], -1)[None]


path, parts = tiny_model_fixtures("ltx")


@pytest.fixture(scope="module")
def path_090(tiny_models_dir):
    """The same tiny model with LTX-Video 0.9.0's VAE: no timestep conditioning, so no decode noise."""
    import os

    from diffusers_video.tiny_models.ltx import build_ltx

    dest = os.path.join(tiny_models_dir, "diffusers", "tiny-ltx-090")
    if not os.path.isfile(os.path.join(dest, "model_index.json")):
        build_ltx(dest, timestep_conditioning=False)
    return dest


@pytest.fixture(scope="module")
def parts_090(path_090):
    return load_parts("tiny-ltx-090")


def graph(parts, guidance=3.0, decode_timestep=0.03, noise_scale=0.025, frame_rate=24, rescale=0.0, **inputs):
    (options,) = LTXOptions().build(frame_rate=frame_rate, decode_timestep=decode_timestep,
                                    decode_noise_scale=noise_scale, guidance_rescale=rescale)
    return graph_frames(parts, SHOT.but(guidance=guidance), options=options, **inputs)


def reference(path, task="t2v", guidance=3.0, decode_timestep=0.03, noise_scale=0.025, frame_rate=24, rescale=0.0,
              **load):
    from diffusers import LTXImageToVideoPipeline, LTXPipeline

    pipe = (LTXImageToVideoPipeline if task == "i2v" else LTXPipeline).from_pretrained(path, **load)
    extra = {"image": as_pil(first_frame())[0]} if task == "i2v" else {}
    return reference_frames(pipe, SHOT.but(guidance=guidance), frame_rate=frame_rate, decode_timestep=decode_timestep,
                            decode_noise_scale=noise_scale, guidance_rescale=rescale, **extra)


@pytest.mark.parametrize("guidance", [3.0, 1.0], ids=["cfg", "no-cfg"])
def test_text_to_video_matches_pipeline(parts, path, guidance):
    assert_parity(graph(parts, guidance), reference(path, guidance=guidance))


def test_decode_timestep_and_noise_reach_the_vae(parts, path):
    settings = {"decode_timestep": 0.2, "noise_scale": 0.3, "frame_rate": 12}
    frames = graph(parts, **settings)
    assert_parity(frames, reference(path, **settings))
    assert (frames - graph(parts)).abs().max().item() > 1e-3  # they change the video


def test_guidance_rescale_matches_pipeline(parts, path):
    frames = graph(parts, rescale=0.7)
    assert_parity(frames, reference(path, rescale=0.7))
    assert (frames - graph(parts)).abs().max().item() > 1e-4  # it changes the video


@pytest.mark.parametrize("guidance", [3.0, 1.0], ids=["cfg", "no-cfg"])
def test_image_to_video_matches_pipeline(parts, path, guidance):
    assert_parity(graph(parts, guidance, vae=parts[1], image=first_frame()), reference(path, "i2v", guidance))


@pytest.mark.parametrize("task", ["t2v", "i2v"])
def test_vae_without_timestep_conditioning_matches_pipeline(parts_090, path_090, task):
    """LTX-Video 0.9.0: the VAE decodes without a timestep, and decode_timestep / decode_noise_scale do nothing
    (in the pipeline as in the graph)."""
    assert not parts_090[1].module.config.timestep_conditioning
    inputs = {"vae": parts_090[1], "image": first_frame()} if task == "i2v" else {}
    frames = graph(parts_090, decode_timestep=0.2, noise_scale=0.3, **inputs)
    assert_parity(frames, reference(path_090, task, decode_timestep=0.2, noise_scale=0.3))
    assert torch.equal(frames, graph(parts_090, **inputs))


def test_bad_inputs_name_the_input(parts):
    model, vae, text_encoder, _ = parts
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 128, True)
        with pytest.raises(DVInputError, match="nearest: 9 or 17") as info:
            DVSampler().sample(model, W, H, 12, STEPS, 3.0, SEED, conditioning=cond)
        assert "num_frames" in str(info.value)
        with pytest.raises(DVInputError, match="not divisible by 32") as info:
            DVSampler().sample(model, 48, H, F, STEPS, 3.0, SEED, conditioning=cond)
        assert "width" in str(info.value)
        with pytest.raises(DVInputError, match="encodes the image with its VAE"):
            DVSampler().sample(model, W, H, F, STEPS, 3.0, SEED, conditioning=cond, image=first_frame())
        with pytest.raises(DVInputError, match="takes no video"):
            DVSampler().sample(model, W, H, F, STEPS, 3.0, SEED, conditioning=cond, video=first_frame())
        # One step: the scheduler's shift_terminal stretch would divide 0 by 0 (a NaN timestep in diffusers).
        with pytest.raises(DVInputError, match="shift_terminal=0.1.*2 or more steps") as info:
            DVSampler().sample(model, W, H, F, 1, 3.0, SEED, conditioning=cond)
        assert str(info.value).startswith("DVSampler: input 'num_inference_steps'")


def test_text_encoder_of_another_family_is_refused(parts, tiny_models_dir):
    with torch.inference_mode():
        wan_te = DVPipelineLoader().load("tiny-cogvideox", "fp32")[2]
        (cond,) = DVTextEncode().encode(wan_te, PROMPT, NEGATIVE, 226, True)
        with pytest.raises(DVInputError, match="CogVideoX text encoder") as info:
            DVSampler().sample(parts[0], W, H, F, STEPS, 3.0, SEED, conditioning=cond)
    assert "conditioning" in str(info.value)


# Mean |diff| of chunked vs one-pass decode: the VAE blends overlapping temporal tiles of a non-causal decoder;
# on the tiny random VAE that is far from seamless (measured 0.126 for 2 latent frames per call).
CHUNK_TOLERANCE = 0.2


def test_decode_in_temporal_chunks_is_the_vaes_own_framewise_decode(parts):
    from diffusers import LTXPipeline
    from diffusers.video_processor import VideoProcessor

    model, vae, text_encoder, _ = parts
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 128, True)
        (latent,) = DVSampler().sample(model, W, H, 17, 2, 3.0, SEED, conditioning=cond)
        full = DVVAEDecode().decode(vae, latent, 0, "off", 0, 0.0)[0]
        whole = DVVAEDecode().decode(vae, latent, 5, "off", 0, 0.0)[0]  # 5 latent frames: one pass
        chunked = DVVAEDecode().decode(vae, latent, 2, "off", 0, 0.0)[0]
        # The same decode done by hand with diffusers' temporal tiling: 2 latent frames a call.
        module = vae.module
        latents = LTXPipeline._denormalize_latents(latent["samples"], module.latents_mean, module.latents_std,
                                                   module.config.scaling_factor)
        latents = 0.975 * latents + 0.025 * latent["dv_decode_noise"]
        module.use_framewise_decoding = True
        module.tile_sample_min_num_frames, module.tile_sample_stride_num_frames = 8, 4
        try:
            video = module.decode(latents, torch.tensor([0.03]), return_dict=False)[0]
        finally:
            module.use_framewise_decoding = False
            module.tile_sample_min_num_frames, module.tile_sample_stride_num_frames = 16, 8
        by_hand = torch.from_numpy(VideoProcessor(vae_scale_factor=4).postprocess_video(video, output_type="np")[0])
    assert torch.equal(whole, full)
    assert (chunked - by_hand).abs().max().item() <= 1e-6
    assert chunked.shape == full.shape == (17, H, W, 3)
    assert (chunked - full).abs().mean().item() < CHUNK_TOLERANCE
    assert not vae.module.use_framewise_decoding  # restored for the next decode


def test_bf16_matches_pipeline_in_bf16(path):
    """The decode noise is drawn and mixed in the sampling dtype, as the pipeline does (measured 0.0)."""
    assert_parity(graph(load_parts("tiny-ltx", "bf16")), reference(path, dtype=torch.bfloat16))
