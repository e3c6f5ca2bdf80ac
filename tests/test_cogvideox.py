"""CogVideoX text-to-video: the node graph against diffusers' CogVideoXPipeline on a tiny offline model."""

from __future__ import annotations

import dataclasses
import logging

import pytest
import torch
from diffusers_video import host
from diffusers_video.errors import DVInputError
from diffusers_video.model_loaders.components import DVConditioning
from diffusers_video.nodes.loaders import DVModelLoader, DVPipelineLoader, DVTextEncoderLoader, DVVAELoader
from diffusers_video.nodes.sampling import DVSampler, DVScheduler, DVTextEncode
from diffusers_video.nodes.vae import DVVAEDecode
from parity import Shot, assert_parity, decode, encode_prompt, reference_frames, sample_latent, tiny_model_fixtures

PROMPT = "a red panda plays guitar in a bamboo forest"
NEGATIVE = "blurry, low quality"
# Small but not degenerate: 3 latent frames (odd, so CogVideoX's first-frame path runs), 2 x 3 patches.
W, H, F, STEPS, SEED = 64, 48, 9, 3, 1234
SHOT = Shot(W, H, F, STEPS, guidance=6.0, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=226)
path, parts = tiny_model_fixtures("cogvideox")


@pytest.fixture(scope="module")
def reference_pipe(path):
    from diffusers import CogVideoXPipeline

    return CogVideoXPipeline.from_pretrained(path)


def run_graph(parts, scheduler=None, **changes):
    latent = sample_latent(parts, SHOT.but(**changes), scheduler=scheduler)
    return decode(parts, latent, tiling="auto"), latent


@pytest.mark.parametrize("guidance", [6.0, 1.0], ids=["cfg", "no-cfg"])
def test_graph_matches_pipeline(parts, reference_pipe, guidance):
    images, latent = run_graph(parts, guidance=guidance)
    assert latent["samples"].shape == (1, 4, 3, H // 8, W // 8)
    assert_parity(images, reference_frames(reference_pipe, SHOT.but(guidance=guidance)))


def test_guidance_changes_the_result(parts):
    with_cfg, _ = run_graph(parts, guidance=6.0)
    without, _ = run_graph(parts, guidance=1.0)
    assert (with_cfg - without).abs().max() > 1e-3


def test_component_loaders_match_pipeline_loader(parts, tiny_models_dir):
    with torch.inference_mode():
        (model,) = DVModelLoader().load("tiny-cogvideox/transformer", "fp32")
        (vae,) = DVVAELoader().load("tiny-cogvideox/vae", "fp32")
        (text_encoder,) = DVTextEncoderLoader().load("tiny-cogvideox/text_encoder", "fp32")
    separate, _ = run_graph((model, vae, text_encoder, None))
    together, _ = run_graph(parts)
    assert torch.equal(separate, together)


def test_scheduler_node_matches_pipeline_with_that_scheduler(parts, reference_pipe):
    from diffusers import CogVideoXDPMScheduler

    (spec,) = DVScheduler().build("CogVideoX DPM", "from model")
    images, _ = run_graph(parts, scheduler=spec)
    original = reference_pipe.scheduler
    reference_pipe.scheduler = CogVideoXDPMScheduler.from_config(original.config)
    try:
        expected = reference_frames(reference_pipe, SHOT)
    finally:
        reference_pipe.scheduler = original
    assert_parity(images, expected)


def test_seed_reproduces_and_varies(parts):
    first, _ = run_graph(parts, seed=7)
    again, _ = run_graph(parts, seed=7)
    other, _ = run_graph(parts, seed=8)
    assert torch.equal(first, again)
    assert (first - other).abs().max() > 1e-3


def test_seed_leaves_global_rng_alone(parts):
    torch.manual_seed(99)
    expected = torch.rand(3)
    torch.manual_seed(99)
    run_graph(parts, steps=1)
    assert torch.equal(torch.rand(3), expected)


# ------------------------------------------------------------------------------------------ decoding


@pytest.fixture(scope="module")
def long_latent(parts):
    """25 frames -> 7 latent frames, 96x64: room for several chunks and tiles."""
    _, latent = run_graph(parts, frames=25, width=96, height=64, steps=2)
    return latent


def test_chunk_covering_all_frames_equals_full_decode(parts, long_latent):
    full = decode(parts, long_latent, chunk=7)
    assert full.shape == (25, 64, 96, 3)
    assert torch.equal(decode(parts, long_latent, chunk=8), full)


def test_chunked_decode_close_to_full_decode(parts, long_latent):
    """CogVideoX's VAE normalises (GroupNorm) over the frames of each chunk, so chunked decoding cannot be
    bit-identical to one full pass; on this random tiny VAE the mean difference is ~0.003 (of 1.0). The
    default chunk (2, the VAE's own) is what the reference pipeline uses, so parity above covers it."""
    full = decode(parts, long_latent, chunk=7)
    for chunk in (2, 4):
        chunked = decode(parts, long_latent, chunk=chunk)
        assert chunked.shape == full.shape
        assert (chunked - full).abs().mean().item() < 0.01


def test_odd_chunk_is_rounded_to_keep_frame_count(parts, long_latent, caplog):
    with caplog.at_level(logging.INFO, logger="DiffusersVideo"):
        odd = decode(parts, long_latent, chunk=3)
    assert odd.shape[0] == 25
    assert torch.equal(odd, decode(parts, long_latent, chunk=4))
    assert "rounded up to 4" in caplog.text


@pytest.mark.parametrize("tile,overlap", [(32, 0.25), (48, 0.25), (64, 0.5)])
def test_tiled_decode_close_to_untiled(parts, long_latent, tile, overlap):
    """Tiles are blended over their overlap; with GroupNorm statistics per tile the random tiny VAE differs
    from an untiled pass by a mean of 0.006-0.018 (measured), well under the 0.03 asserted here."""
    untiled = decode(parts, long_latent)
    tiled = decode(parts, long_latent, tiling="on", tile=tile, overlap=overlap)
    assert tiled.shape == untiled.shape
    assert (tiled - untiled).abs().mean().item() < 0.03


def test_tile_larger_than_frame_is_untiled(parts, long_latent):
    assert torch.equal(decode(parts, long_latent, tiling="on", tile=256, overlap=0.25), decode(parts, long_latent))


def test_decode_restores_vae_settings(parts, long_latent):
    vae = parts[1].module
    before = (vae.num_latent_frames_batch_size, vae.use_tiling, vae.tile_sample_min_height)
    decode(parts, long_latent, chunk=4, tiling="on", tile=32, overlap=0.25)
    assert (vae.num_latent_frames_batch_size, vae.use_tiling, vae.tile_sample_min_height) == before


def test_decode_progress_ticks_per_chunk(parts, long_latent, monkeypatch):
    ticks = []
    original = host.Progress.update
    monkeypatch.setattr(host.Progress, "update", lambda self, n=1, preview=None: (ticks.append(self.total),
                                                                                   original(self, n, preview)))
    decode(parts, long_latent, chunk=2)
    assert len(ticks) == 3  # 7 latent frames in chunks of 2: 3 decoder calls (the odd frame joins the first)


# -------------------------------------------------------------------------------------- progress, interrupt


def test_progress_once_per_step_and_interrupt_stops_sampling(parts, monkeypatch):
    model, _, text_encoder, _ = parts
    calls = []
    handle = model.module.register_forward_hook(lambda *_: calls.append(1))
    original = host.Progress.update

    def update(self, n=1, preview=None):
        if self.current + n == 2 and self.total == 5:
            host.request_interrupt()  # as if the user pressed Cancel during step 2
        original(self, n, preview)

    monkeypatch.setattr(host.Progress, "update", update)
    try:
        with torch.inference_mode():
            (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 226, True)
            with pytest.raises(host.Interrupted):
                DVSampler().sample(model, W, H, F, 5, 6.0, SEED, cond)
    finally:
        handle.remove()
    assert len(calls) == 2  # stopped after the second of five steps


# ------------------------------------------------------------------------------------------ bad input


def expect_error(match_parts: list[str], fn, *args, **kwargs):
    with pytest.raises(DVInputError) as info:
        fn(*args, **kwargs)
    for part in match_parts:
        assert part in str(info.value), (part, str(info.value))
    return info.value


@pytest.fixture(scope="module")
def cond(parts):
    return encode_prompt(parts, SHOT)


def test_frame_count_the_family_cannot_make(parts, cond):
    expect_error(["DVSampler", "'num_frames'", "10", "9 or 13"], DVSampler().sample, parts[0], W, H, 10, 2,
                 6.0, 0, conditioning=cond)


@pytest.mark.parametrize("width,height,bad,hint", [(72, 48, "width", "64 or 80"), (64, 40, "height", "32 or 48")])
def test_size_not_divisible(parts, cond, width, height, bad, hint):
    expect_error(["DVSampler", f"'{bad}'", "16", hint], DVSampler().sample, parts[0], width, height, F, 2,
                 6.0, 0, conditioning=cond)


def test_missing_model_folder(tiny_models_dir):
    expect_error(["DVPipelineLoader", "'model'", "not found"], DVPipelineLoader().load, "CogVideoX-5b", "fp32")


def test_path_escaping_the_models_folder_is_refused(tiny_models_dir):
    expect_error(["DVPipelineLoader", "not found"], DVPipelineLoader().load, "..", "fp32")


def test_wrong_type_wired_into_sampler(parts, cond):
    model, vae, _, _ = parts
    expect_error(["DVSampler", "'model'", "DVVAE", "DV_MODEL"], DVSampler().sample, vae, W, H, F, 2, 6.0, 0,
                 conditioning=cond)
    expect_error(["DVSampler", "'conditioning'"], DVSampler().sample, model, W, H, F, 2, 6.0, 0, conditioning=model)
    expect_error(["DVSampler", "'vae'"], DVSampler().sample, model, W, H, F, 2, 6.0, 0, conditioning=cond, vae=model)


def test_wrong_type_wired_into_decoder(parts):
    expect_error(["DVVAEDecode", "'vae'"], DVVAEDecode().decode, parts[0], {"samples": torch.zeros(1)}, 0, "off",
                 0, 0.0)


def test_wrong_component_folder_for_loader(tiny_models_dir):
    expect_error(["DVModelLoader", "'model'", "AutoencoderKLCogVideoX"], DVModelLoader().load, "tiny-cogvideox/vae",
                 "fp32")


def test_conditioning_from_another_family(parts, cond):
    other = dataclasses.replace(cond.family, id="other", label="OtherFamily")
    foreign = DVConditioning(other, cond.prompt, cond.negative_prompt, cond.embeds)
    expect_error(["DVSampler", "'conditioning'", "OtherFamily"], DVSampler().sample, parts[0], W, H, F, 2,
                 6.0, 0, conditioning=foreign)


def test_empty_prompt(parts):
    with torch.inference_mode():
        (empty,) = DVTextEncode().encode(parts[2], "   ", "", 226, True)
    expect_error(["DVSampler", "'conditioning'", "empty"], DVSampler().sample, parts[0], W, H, F, 2, 6.0, 0,
                 conditioning=empty)


def test_text_family_without_conditioning(parts):
    expect_error(["DVSampler", "'conditioning'", "driven by text"], DVSampler().sample, parts[0], W, H, F, 2, 6.0, 0)


def test_image_refused_by_text_to_video(parts, cond):
    expect_error(["DVSampler", "'image'"], DVSampler().sample, parts[0], W, H, F, 2, 6.0, 0, conditioning=cond,
                 image=torch.zeros(1, H, W, 3))


def test_flow_matching_scheduler_refused_for_cogvideox(parts, cond):
    (spec,) = DVScheduler().build("FlowMatch Euler", "from model")
    expect_error(["DVSampler", "'scheduler'", "FlowMatchEulerDiscreteScheduler"], DVSampler().sample, parts[0],
                 W, H, F, 2, 6.0, 0, conditioning=cond, scheduler=spec)


def test_long_prompt_truncation_is_stated(parts, caplog):
    long_prompt = " ".join(["a red panda plays a small guitar"] * 80)
    with torch.inference_mode():
        expect_error(["DVTextEncode", "'prompt'", "max_sequence_length 226"], DVTextEncode().encode, parts[2],
                     long_prompt, "", 226, False)
        with caplog.at_level(logging.WARNING, logger="DiffusersVideo"):
            (cond,) = DVTextEncode().encode(parts[2], long_prompt, "", 226, True)
    assert cond.notes and "cut off" in cond.notes[0]
    assert "DVTextEncode: input 'prompt'" in caplog.text
    assert cond.embeds["prompt_embeds"].shape[1] == 226
