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

PROMPT, NEGATIVE = "a sailing boat on a stormy sea", "worst quality, blurry"
W, H, F, STEPS, SEED = 64, 32, 9, 3, 17
PARITY_TOLERANCE = 1e-5  # fp32 CPU; measured 0.0
LTXOptions = next(node for node in OPTION_NODES if node.__name__ == "DVLTXOptions")


def first_frame() -> torch.Tensor:
    y = torch.linspace(0, 1, H)[:, None]
    x = torch.linspace(0, 1, W)[None, :]
    return torch.stack([x * torch.ones_like(y), y * torch.ones_like(x), (x * y) % 1], -1)[None]


@pytest.fixture(scope="module")
def path(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    return install_into_models_dir(tiny_models_dir, "ltx", "tiny-ltx")


@pytest.fixture(scope="module")
def parts(path):
    with torch.inference_mode():
        return DVPipelineLoader().load("tiny-ltx", "fp32")


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
    with torch.inference_mode():
        return DVPipelineLoader().load("tiny-ltx-090", "fp32")


def graph(parts, guidance=3.0, decode_timestep=0.03, noise_scale=0.025, frame_rate=24, rescale=0.0, **inputs):
    model, vae, text_encoder, _ = parts
    with torch.inference_mode():
        (options,) = LTXOptions().build(frame_rate=frame_rate, decode_timestep=decode_timestep,
                                        decode_noise_scale=noise_scale, guidance_rescale=rescale)
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 128, True)
        (latent,) = DVSampler().sample(model, W, H, F, STEPS, guidance, SEED, conditioning=cond, options=options,
                                       **inputs)
        return DVVAEDecode().decode(vae, latent, 0, "off", 0, 0.0)[0]


def reference(path, task="t2v", guidance=3.0, decode_timestep=0.03, noise_scale=0.025, frame_rate=24, rescale=0.0):
    from diffusers import LTXImageToVideoPipeline, LTXPipeline
    from diffusers_video.samplers.image_input import to_pil

    cls = LTXImageToVideoPipeline if task == "i2v" else LTXPipeline
    pipe = cls.from_pretrained(path)
    extra = {"image": to_pil(first_frame())} if task == "i2v" else {}
    out = pipe(prompt=PROMPT, negative_prompt=NEGATIVE, width=W, height=H, num_frames=F, num_inference_steps=STEPS,
               guidance_scale=guidance, frame_rate=frame_rate, decode_timestep=decode_timestep,
               decode_noise_scale=noise_scale, guidance_rescale=rescale, max_sequence_length=128,
               generator=torch.Generator("cpu").manual_seed(SEED), output_type="np", **extra)
    return torch.from_numpy(out.frames[0])


@pytest.mark.parametrize("guidance", [3.0, 1.0], ids=["cfg", "no-cfg"])
def test_text_to_video_matches_pipeline(parts, path, guidance):
    frames = graph(parts, guidance)
    assert frames.shape == (F, H, W, 3)
    assert (frames - reference(path, guidance=guidance)).abs().max().item() <= PARITY_TOLERANCE
    assert frames.std() > 0.01


def test_decode_timestep_and_noise_reach_the_vae(parts, path):
    settings = {"decode_timestep": 0.2, "noise_scale": 0.3, "frame_rate": 12}
    frames = graph(parts, **settings)
    assert (frames - reference(path, **settings)).abs().max().item() <= PARITY_TOLERANCE
    assert (frames - graph(parts)).abs().max().item() > 1e-3  # they change the video


def test_guidance_rescale_matches_pipeline(parts, path):
    frames = graph(parts, rescale=0.7)
    assert (frames - reference(path, rescale=0.7)).abs().max().item() <= PARITY_TOLERANCE
    assert (frames - graph(parts)).abs().max().item() > 1e-4  # it changes the video


@pytest.mark.parametrize("guidance", [3.0, 1.0], ids=["cfg", "no-cfg"])
def test_image_to_video_matches_pipeline(parts, path, guidance):
    frames = graph(parts, guidance, vae=parts[1], image=first_frame())
    assert (frames - reference(path, "i2v", guidance)).abs().max().item() <= PARITY_TOLERANCE


@pytest.mark.parametrize("task", ["t2v", "i2v"])
def test_vae_without_timestep_conditioning_matches_pipeline(parts_090, path_090, task):
    """LTX-Video 0.9.0: the VAE decodes without a timestep, and decode_timestep / decode_noise_scale do nothing
    (in the pipeline as in the graph)."""
    assert not parts_090[1].module.config.timestep_conditioning
    inputs = {"vae": parts_090[1], "image": first_frame()} if task == "i2v" else {}
    frames = graph(parts_090, decode_timestep=0.2, noise_scale=0.3, **inputs)
    assert (frames - reference(path_090, task, decode_timestep=0.2, noise_scale=0.3)).abs().max().item() \
        <= PARITY_TOLERANCE
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
    from diffusers import LTXPipeline

    with torch.inference_mode():
        parts = DVPipelineLoader().load("tiny-ltx", "bf16")
    frames = graph(parts)
    pipe = LTXPipeline.from_pretrained(path, dtype=torch.bfloat16)
    out = pipe(prompt=PROMPT, negative_prompt=NEGATIVE, width=W, height=H, num_frames=F, num_inference_steps=STEPS,
               guidance_scale=3.0, frame_rate=24, decode_timestep=0.03, decode_noise_scale=0.025,
               max_sequence_length=128, generator=torch.Generator("cpu").manual_seed(SEED), output_type="np")
    assert (frames - torch.from_numpy(out.frames[0])).abs().max().item() <= PARITY_TOLERANCE
