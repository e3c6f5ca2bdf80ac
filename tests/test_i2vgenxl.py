"""I2VGen-XL image-to-video: the node graph against I2VGenXLPipeline on a tiny offline model."""

from __future__ import annotations

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.loaders import DVPipelineLoader
from diffusers_video.nodes.options import NODES as OPTION_NODES
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from parity import Shot, as_pil, assert_parity, encode_prompt, graph_frames, reference_frames, tiny_model_fixtures

PROMPT, NEGATIVE = "a red fox runs through the snow", "blurry, low quality, motionless"
W, H, F, STEPS, SEED = 64, 48, 4, 3, 7
# Parity measured 0.0 (5.3e-6 with the reference's weights loaded outside inference mode).
SHOT = Shot(W, H, F, STEPS, guidance=9.0, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=77)
I2VGenXLOptions = next(node for node in OPTION_NODES if node.__name__ == "DVI2VGenXLOptions")


def picture(height=H, width=W) -> torch.Tensor:
    y = torch.linspace(0, 1, height)[:, None]
    x = torch.linspace(0, 1, width)[None, :]
    return torch.stack([x + 0 * y, y + 0 * x, (x * y) % 1], -1)[None]


path, parts = tiny_model_fixtures("i2vgenxl")


def run_graph(parts, chunk=0, options=None, **changes):
    return graph_frames(parts, SHOT.but(**changes), chunk, vae=parts[1], image=picture(), options=options)


def reference(path, shot=SHOT, **kwargs):
    """The pipeline as its guide runs it, with the pipeline's default clip_skip=1. Two things make that run
    at all and reproducibly here: transformers 5's flat CLIPTextModel gets the `text_model` alias the
    clip_skip path reaches for, and torch's global RNG is seeded for the image's VAE posterior sample.
    Loaded in inference mode as the nodes' weights are (ComfyUI loads that way): torch's CPU Linear takes
    another kernel for weights that require grad, which moves this UNet's frames by ~5e-6."""
    from diffusers import I2VGenXLPipeline

    with torch.inference_mode():
        pipe = I2VGenXLPipeline.from_pretrained(path)
    if not hasattr(pipe.text_encoder, "text_model"):
        object.__setattr__(pipe.text_encoder, "text_model", pipe.text_encoder)
    torch.manual_seed(SEED)
    return reference_frames(pipe, shot, image=as_pil(picture())[0], **kwargs)


@pytest.mark.parametrize("guidance", [9.0, 1.0], ids=["cfg", "no-cfg"])
def test_graph_matches_pipeline(parts, path, guidance):
    assert_parity(run_graph(parts, guidance=guidance), reference(path, SHOT.but(guidance=guidance)))


def test_prompt_is_clips_penultimate_layer(parts):
    """clip_skip 1 as the pipeline means it, checked against the text encoder directly (not the pipeline)."""
    _, _, text_encoder, _ = parts
    cond = encode_prompt(parts, SHOT)
    ids = text_encoder.tokenizer(PROMPT, padding="max_length", max_length=77, truncation=True,
                                 return_tensors="pt").input_ids
    with torch.inference_mode():
        states = text_encoder.module(ids, output_hidden_states=True).hidden_states
        expected = text_encoder.module.final_layer_norm(states[-2])
    assert torch.equal(cond.embeds["prompt_embeds"], expected)
    assert not hasattr(text_encoder.module, "text_model")  # the alias lives only for the call


def test_empty_prompt_is_allowed(parts, path):
    assert_parity(run_graph(parts, prompt=""), reference(path, SHOT.but(prompt="")))


def test_seed_covers_the_vae_posterior_and_leaves_global_rng_alone(parts):
    torch.manual_seed(1)
    first = run_graph(parts)
    after_first = torch.rand(3)
    torch.manual_seed(2)  # another global state: the same seed must still give the same video
    second = run_graph(parts)
    assert torch.equal(first, second)
    torch.manual_seed(1)
    assert torch.equal(torch.rand(3), after_first)  # the run restored the global RNG it seeded
    assert (run_graph(parts, seed=SEED + 1) - first).abs().max() > 1e-4


def test_target_fps_reaches_the_pipeline(parts, path):
    (options,) = I2VGenXLOptions().build(target_fps=8)
    frames = run_graph(parts, options=options)
    assert_parity(frames, reference(path, target_fps=8))
    assert (frames - run_graph(parts)).abs().max() > 1e-4  # and it changes the video


def test_decode_chunk_size_matches_pipelines_chunked_decode(parts, path):
    assert_parity(run_graph(parts, chunk=3), reference(path, decode_chunk_size=3))


@pytest.mark.parametrize("frames", [1, 2, 5])
def test_any_frame_count(parts, path, frames):
    out = run_graph(parts, frames=frames)
    assert out.shape == (frames, H, W, 3)
    assert_parity(out, reference(path, SHOT.but(frames=frames)))


def test_progress_ticks_once_per_step(parts, monkeypatch):
    from diffusers_video import host

    ticks = []
    original = host.Progress.update

    def update(self, n=1, preview=None):
        if self.total == STEPS:
            ticks.append(n)
        return original(self, n, preview)

    monkeypatch.setattr(host.Progress, "update", update)
    run_graph(parts)
    assert len(ticks) == STEPS


def sampler_error(parts, **inputs) -> str:
    model, vae, _, _ = parts
    inputs = {"vae": vae, "image": picture(), "conditioning": encode_prompt(parts, SHOT), **inputs}
    size = {"width": inputs.pop("width", W), "height": inputs.pop("height", H)}
    frames = inputs.pop("num_frames", F)
    with pytest.raises(DVInputError) as info:
        DVSampler().sample(model, size["width"], size["height"], frames, 1, 9.0, 0, **inputs)
    return str(info.value)


def test_needs_an_image(parts):
    assert "DVSampler: input 'image'" in sampler_error(parts, image=None)


def test_needs_the_vae(parts):
    assert "DVSampler: input 'vae'" in sampler_error(parts, vae=None)


def test_needs_the_prompt_conditioning(parts):
    assert "DVSampler: input 'conditioning'" in sampler_error(parts, conditioning=None)


def test_video_is_refused(parts):
    assert "DVSampler: input 'video'" in sampler_error(parts, video=picture().repeat(4, 1, 1, 1))


def test_zero_frames_refused(parts):
    message = sampler_error(parts, num_frames=0)
    assert "DVSampler: input 'num_frames'" in message and "any count >= 1" in message


@pytest.mark.parametrize("name,value", [("width", 60), ("height", 44)])
def test_size_must_fit_the_vae(parts, name, value):
    message = sampler_error(parts, **{name: value})
    assert f"DVSampler: input '{name}'" in message and "multiples of 8" in message


def test_other_familys_text_encoder_refused(parts, tiny_models_dir):
    with torch.inference_mode():
        _, _, cog_text_encoder, _ = DVPipelineLoader().load("tiny-cogvideox", "fp32")
        (cond,) = DVTextEncode().encode(cog_text_encoder, PROMPT, NEGATIVE, 226, True)
    message = sampler_error(parts, conditioning=cond)
    assert "DVSampler: input 'conditioning'" in message and "CogVideoX" in message


def test_other_familys_vae_refused(parts, tiny_models_dir):
    with torch.inference_mode():
        _, cog_vae, _, _ = DVPipelineLoader().load("tiny-cogvideox", "fp32")
    message = sampler_error(parts, vae=cog_vae)
    assert "DVSampler: input 'vae'" in message and "AutoencoderKLCogVideoX" in message
