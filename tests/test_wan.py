"""Wan2.1 text-to-video: the node graph against WanPipeline on a tiny offline model."""

from __future__ import annotations

import pytest
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.sampling import DVSampler, DVScheduler
from parity import Shot, assert_parity, encode_prompt, graph_frames, load_parts, reference_frames, tiny_model_fixtures

PROMPT, NEGATIVE = "a fox runs through the snow at night", "blurry, low quality"
W, H, F, STEPS, SEED = 64, 48, 9, 3, 11
SHOT = Shot(W, H, F, STEPS, guidance=5.0, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=512)
path, parts = tiny_model_fixtures("wan")


def run_graph(parts, guidance=5.0, scheduler=None, tiling="off", tile=0, overlap=0.0):
    return graph_frames(parts, SHOT.but(guidance=guidance), tiling=tiling, tile=tile, overlap=overlap,
                        scheduler=scheduler)


def reference(path, guidance=5.0, scheduler=None):
    from diffusers import WanPipeline

    pipe = WanPipeline.from_pretrained(path)
    if scheduler is not None:
        pipe.scheduler = scheduler
    return reference_frames(pipe, SHOT.but(guidance=guidance))


@pytest.mark.parametrize("guidance", [5.0, 1.0], ids=["cfg", "no-cfg"])
def test_graph_matches_pipeline(parts, path, guidance):
    frames = run_graph(parts, guidance)
    assert frames.shape == (F, H, W, 3)
    assert_parity(frames, reference(path, guidance))


def test_flow_match_euler_keeps_the_models_shift(parts, path):
    from diffusers import FlowMatchEulerDiscreteScheduler

    (spec,) = DVScheduler().build("FlowMatch Euler", "from model")
    assert_parity(run_graph(parts, scheduler=spec),
                  reference(path, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0, num_train_timesteps=1000)))


def test_ddpm_scheduler_refused_for_flow_model(parts):
    (spec,) = DVScheduler().build("DDIM", "from model")
    with pytest.raises(DVInputError) as info:
        DVSampler().sample(parts[0], W, H, F, 1, 5.0, 0, conditioning=encode_prompt(parts, SHOT), scheduler=spec)
    assert "DVSampler: input 'scheduler'" in str(info.value) and "flow-matching" in str(info.value)


def test_tiled_decode_keeps_size(parts):
    full = run_graph(parts)
    tiled = run_graph(parts, tiling="on", tile=32, overlap=0.25)
    assert tiled.shape == full.shape
    assert (tiled - full).abs().mean().item() < 0.05


def test_frames_must_be_4k_plus_1(parts):
    with pytest.raises(DVInputError) as info:
        DVSampler().sample(parts[0], W, H, 80, 1, 5.0, 0, conditioning=encode_prompt(parts, SHOT))
    assert "DVSampler: input 'num_frames'" in str(info.value) and "77 or 81" in str(info.value)


def test_cogvideox_text_encoder_refused(parts, tiny_models_dir):
    cond = encode_prompt(load_parts("tiny-cogvideox"), SHOT.but(max_len=226))
    with pytest.raises(DVInputError) as info:
        DVSampler().sample(parts[0], W, H, F, 1, 5.0, 0, conditioning=cond)
    assert "DVSampler: input 'conditioning'" in str(info.value) and "CogVideoX" in str(info.value)
