"""LTX-Video 0.9.5+: keyframes and clips at frame indices (DVLTXCondition -> LTXConditionPipeline), the latent
upscaler (DVLTXUpsampleLatent -> LTXLatentUpsamplePipeline) and the two-stage graph against the diffusers
guide's two-stage recipe, on the same tiny components."""

from __future__ import annotations

import os

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.ltx import (
    DVLTXCondition,
    DVLTXLatentUpsamplerLoader,
    DVLTXRefineLatent,
    DVLTXUpsampleLatent,
)
from diffusers_video.nodes.options import NODES as OPTION_NODES
from parity import (
    Shot,
    as_pil,
    assert_parity,
    decode,
    graph_frames,
    reference_frames,
    sample_latent,
    tiny_model_fixtures,
)

PROMPT, NEGATIVE = "a lighthouse at dusk, waves breaking", "worst quality, blurry"
W, H, F, STEPS, SEED = 64, 64, 9, 3, 5
SHOT = Shot(W, H, F, STEPS, guidance=3.0, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=128)
LTXOptions = next(node for node in OPTION_NODES if node.__name__ == "DVLTXOptions")
UPSAMPLER = "diffusers/tiny-ltx-upsampler"
MEASURED: dict[str, float] = {}

path, parts = tiny_model_fixtures("ltx_095")


def picture(height: int = H, width: int = W, shift: float = 0.0) -> torch.Tensor:
    y = torch.linspace(0, 1, height)[:, None]
    x = torch.linspace(0, 1, width)[None, :]
    return torch.stack([(x + shift) % 1 * torch.ones_like(y), y * torch.ones_like(x), (x * y * 3 + shift) % 1],
                       -1)[None]


def clip(frames: int, height: int = H, width: int = W) -> torch.Tensor:
    return torch.cat([picture(height, width, t / frames) for t in range(frames)])


@pytest.fixture(scope="module")
def upsampler_path(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    return install_into_models_dir(tiny_models_dir, "ltx_upsampler", "tiny-ltx-upsampler")


def options(*conditions, noise=0.025, rescale=0.0, **ltx):
    """DVLTXCondition nodes chained in order, then DVLTXOptions: conditions are (kind, frames, index, strength)."""
    chain = None
    for kind, frames, index, strength in conditions:
        (chain,) = DVLTXCondition().build(index, strength, noise, **{kind: frames}, options=chain)
    settings = {"frame_rate": 24, "decode_timestep": 0.03, "decode_noise_scale": 0.025, "guidance_rescale": rescale}
    (made,) = LTXOptions().build(**{**settings, **ltx}, options=chain)
    return made


def pipeline(path):
    from diffusers import LTXConditionPipeline

    return LTXConditionPipeline.from_pretrained(path)


def reference_conditions(*conditions):
    from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

    return [LTXVideoCondition(**{kind: as_pil(frames)[0] if kind == "image" else as_pil(frames)},
                              frame_index=index, strength=strength) for kind, frames, index, strength in conditions]


def reference(path, *conditions, shot=SHOT, noise=0.025, rescale=0.0, **kwargs):
    extra = {"conditions": reference_conditions(*conditions)} if conditions else {}
    return reference_frames(pipeline(path), shot, frame_rate=24, decode_timestep=0.03, decode_noise_scale=0.025,
                            guidance_rescale=rescale, image_cond_noise_scale=noise, **extra, **kwargs)


def test_095_release_is_a_variant_with_its_vaes_own_ratios(parts):
    model, vae = parts[0], parts[1]
    assert model.family.variant == "ltx-0.9.5" and model.family.label == "LTX-Video 0.9.5+"
    assert model.family.defaults["width"] == 768
    # 0.9.5's VAE halves space or time alone in some blocks: 4 scaling blocks but 32x / 8x, as its config says.
    assert (vae.geometry.spatial, vae.geometry.temporal) == (32, 8) == (
        vae.module.spatial_compression_ratio, vae.module.temporal_compression_ratio)
    assert model.geometry.spatial == 32


def test_095_text_to_video_runs_the_condition_pipeline(parts, path):
    """0.9.5+ without conditions: LTXConditionPipeline on text alone (its own timesteps, and T5 with the attention
    mask, unlike LTXPipeline), as the guide runs these releases."""
    MEASURED["text"] = assert_parity(graph_frames(parts, SHOT, vae=parts[1], options=options()), reference(path))


@pytest.mark.parametrize("guidance", [3.0, 1.0], ids=["cfg", "no-cfg"])
def test_first_and_last_keyframes_match_pipeline(parts, path, guidance):
    first, last = ("image", picture(), 0, 1.0), ("image", picture(shift=0.5), F - 1, 0.8)
    frames = graph_frames(parts, SHOT.but(guidance=guidance), vae=parts[1], options=options(first, last))
    MEASURED[f"keyframes-{guidance}"] = assert_parity(frames, reference(path, first, last,
                                                                        shot=SHOT.but(guidance=guidance)))
    if guidance > 1:
        plain = graph_frames(parts, SHOT.but(guidance=guidance), vae=parts[1], options=options(first))
        assert (frames - plain).abs().max().item() > 1e-3  # the last keyframe changes the video


def test_clip_after_frame_0_and_sampler_image_match_pipeline(parts, path):
    """A 9-frame clip at frame 8 (its first 2 latent frames become extra tokens), DVSampler's image as the frame-0
    keyframe, and guidance rescale with no conditioning noise."""
    moving, shot = ("video", clip(9), 8, 0.9), SHOT.but(frames=17)
    frames = graph_frames(parts, shot, vae=parts[1], image=picture(), options=options(moving, noise=0.0, rescale=0.7))
    expected = reference(path, ("image", picture(), 0, 1.0), moving, shot=shot, noise=0.0, rescale=0.7)
    MEASURED["clip"] = assert_parity(frames, expected)


def test_clip_fitted_by_resize_mode_matches_pipeline(parts, path):
    """A clip at another aspect, cropped by DVImageInputOptions (the refused stretch's alternative), is the PIL
    frames the guide would crop; DVSampler's image (at the video's size) goes through the same crop."""
    from diffusers.image_processor import VaeImageProcessor
    from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition
    from diffusers_video.nodes.options import DVImageInputOptions

    wide = clip(9, 32, 96)
    (chain,) = DVImageInputOptions().build("crop", options=options(("video", wide, 0, 0.7)))
    frames = graph_frames(parts, SHOT, vae=parts[1], image=picture(), options=chain)
    processor = VaeImageProcessor()
    cropped = [processor.resize(frame, H, W, resize_mode="crop") for frame in as_pil(wide)]
    first = processor.resize(as_pil(picture())[0], H, W, resize_mode="crop")
    expected = reference(path, conditions=[LTXVideoCondition(image=first, frame_index=0, strength=1.0),
                                           LTXVideoCondition(video=cropped, frame_index=0, strength=0.7)])
    MEASURED["crop"] = assert_parity(frames, expected)


def test_upsample_latent_matches_pipeline(parts, upsampler_path):
    from diffusers import LTXLatentUpsamplePipeline

    with torch.inference_mode():
        (upsampler,) = DVLTXLatentUpsamplerLoader().load(UPSAMPLER, "fp32")
        latent = sample_latent(parts, SHOT.but(width=64, height=32, frames=9), vae=parts[1])
        pipe = LTXLatentUpsamplePipeline.from_pretrained(upsampler_path, vae=parts[1].module)
        for adain, tone in ((0.0, 0.0), (1.0, 0.6)):
            (up,) = DVLTXUpsampleLatent().upsample(latent, upsampler, parts[1], adain, tone)
            expected = pipe(latents=latent["samples"], adain_factor=adain, tone_map_compression_ratio=tone,
                            output_type="latent").frames
            MEASURED[f"upsample-{adain}"] = assert_parity(up["samples"], expected)
    assert up["samples"].shape == (1, 8, 2, 2, 4)  # twice the width and height
    assert up["dv_num_frames"] == 9 and "dv_decode_noise" not in up  # the small latent's noise fits no more


def test_two_stage_graph_matches_the_guides_recipe(parts, path, upsampler_path):
    """The diffusers guide's LTX-Video 0.9.7 example on the tiny parts: sample small with a condition, upscale
    the latent, refine at twice the size with denoise_strength 0.4 of 10 steps, decode."""
    from diffusers import LTXLatentUpsamplePipeline

    small = SHOT.but(width=64, height=32, frames=9, guidance=5.0)
    big = small.but(width=128, height=64, steps=10)
    first = ("image", picture(32, 64), 0, 1.0)
    settings = {"decode_timestep": 0.05, "decode_noise_scale": 0.025}
    chain = options(first, noise=0.0, rescale=0.7, **settings)
    with torch.inference_mode():
        (upsampler,) = DVLTXLatentUpsamplerLoader().load(UPSAMPLER, "fp32")
        latent = sample_latent(parts, small, vae=parts[1], options=chain)
        (up,) = DVLTXUpsampleLatent().upsample(latent, upsampler, parts[1], 0.0, 0.0)
        (refine,) = DVLTXRefineLatent().build(up, 0.4, options=chain)
    frames = decode(parts, sample_latent(parts, big, vae=parts[1], options=refine))

    pipe = pipeline(path)
    pipe_upsample = LTXLatentUpsamplePipeline.from_pretrained(upsampler_path, vae=pipe.vae)
    recipe = {"conditions": reference_conditions(first), "frame_rate": 24, "image_cond_noise_scale": 0.0,
              "guidance_rescale": 0.7, **settings}
    latents = reference_frames(pipe, small, output_type="latent", **recipe)
    upscaled = pipe_upsample(latents=latents, output_type="latent").frames
    expected = reference_frames(pipe, big, latents=upscaled, denoise_strength=0.4, **recipe)
    MEASURED["two-stage"] = assert_parity(frames, expected)
    assert frames.shape == (9, 64, 128, 3)


def test_refine_without_conditions_matches_pipeline(parts, path):
    """A latent refined with no keyframe (text only): the same pipeline path, started from the latent."""
    with torch.inference_mode():
        latent = sample_latent(parts, SHOT, vae=parts[1])
        (refine,) = DVLTXRefineLatent().build(latent, 0.6, options=options())
    frames = graph_frames(parts, SHOT.but(steps=5), vae=parts[1], options=refine)
    expected = reference(path, shot=SHOT.but(steps=5), latents=latent["samples"], denoise_strength=0.6)
    MEASURED["refine"] = assert_parity(frames, expected)


def test_upscaler_loads_from_a_single_file_as_from_its_folder(parts, upsampler_path, tiny_models_dir):
    from safetensors.torch import save_file

    folder = os.path.join(tiny_models_dir, "latent_upscale_models")
    os.makedirs(folder, exist_ok=True)
    (from_folder,) = DVLTXLatentUpsamplerLoader().load(UPSAMPLER, "fp32")
    save_file(from_folder.module.state_dict(), os.path.join(folder, "ltxv-spatial-upscaler-tiny.safetensors"))
    save_file({"weight": torch.zeros(2)}, os.path.join(folder, "not-an-upscaler.safetensors"))
    choices = DVLTXLatentUpsamplerLoader.INPUT_TYPES()["required"]["latent_upsampler"][0]
    assert UPSAMPLER in choices and "latent_upscale_models/ltxv-spatial-upscaler-tiny.safetensors" in choices
    assert "latent_upscale_models/not-an-upscaler.safetensors" not in choices
    (from_file,) = DVLTXLatentUpsamplerLoader().load("latent_upscale_models/ltxv-spatial-upscaler-tiny.safetensors",
                                                     "fp32")
    def own(config):
        return {key: value for key, value in config.items() if not key.startswith("_")}

    assert own(from_file.module.config) == own(from_folder.module.config)
    assert all(torch.equal(a, b) for a, b in zip(from_file.module.state_dict().values(),
                                                 from_folder.module.state_dict().values(), strict=True))
    with pytest.raises(DVInputError, match="latent upscaler") as info:
        DVLTXLatentUpsamplerLoader().load("latent_upscale_models/not-an-upscaler.safetensors", "fp32")
    assert "DVLTXLatentUpsamplerLoader" in str(info.value) and "latent_upsampler" in str(info.value)


def _raises(node: str, input_name: str, valid: str, function, *args, **kwargs) -> DVInputError:
    with pytest.raises(DVInputError) as info, torch.inference_mode():
        function(*args, **kwargs)
    text = str(info.value)
    assert node in text and f"'{input_name}'" in text and valid in text, text
    return info.value


def _sample(parts, shot=SHOT, **inputs):
    return sample_latent(parts, shot, **inputs)


def test_bad_conditions_are_refused_by_name(parts):
    """Conditions reach DVSampler through its options: it refuses them by that input, naming the condition."""
    error = _raises("DVSampler", "options", "a frame_index from 0 to 8, or num_frames 25 or more", _sample, parts,
                    vae=parts[1], options=options(("image", picture(), 0, 1.0), ("image", picture(), 20, 1.0)))
    assert "DVLTXCondition #2" in str(error)
    error = _raises("DVSampler", "options", "resize_mode (fill or crop)", _sample, parts, vae=parts[1],
                    options=options(("video", clip(9, 32, 96), 0, 1.0)))
    assert "DVLTXCondition #1" in str(error) and "96x32" in str(error)
    _raises("DVSampler", "options", "at least 9", _sample, parts, vae=parts[1],
            options=options(("video", clip(9), 4, 1.0)))
    _raises("DVSampler", "vae", "the VAE from the same folder", _sample, parts,
            options=options(("image", picture(), 0, 1.0)))
    _raises("DVSampler", "vae", "the VAE from the same folder", _sample, parts)  # 0.9.5+ on text alone too
    _raises("DVLTXCondition", "image", "not both", DVLTXCondition().build, 0, 1.0, 0.0, image=picture(),
            video=clip(9))
    _raises("DVLTXCondition", "image", "not both", DVLTXCondition().build, 0, 1.0, 0.0)
    _raises("DVLTXCondition", "image", "ImageFromBatch", DVLTXCondition().build, 0, 1.0, 0.0, image=clip(2))
    (one,) = DVLTXCondition().build(0, 1.0, 0.1, image=picture())
    _raises("DVLTXCondition", "image_cond_noise_scale", "0.1 here too", DVLTXCondition().build, 8, 1.0, 0.0,
            image=picture(), options=one)


def test_bad_upscale_and_refine_inputs_are_refused_by_name(parts, upsampler_path, tiny_models_dir):
    from diffusers_video.tiny_models.ltx import tiny_latent_upsampler
    from safetensors.torch import save_file

    folder = os.path.join(tiny_models_dir, "latent_upscale_models")
    os.makedirs(folder, exist_ok=True)
    save_file(tiny_latent_upsampler(in_channels=16).state_dict(), os.path.join(folder, "upscaler-16ch.safetensors"))
    with torch.inference_mode():
        (other,) = DVLTXLatentUpsamplerLoader().load("latent_upscale_models/upscaler-16ch.safetensors", "fp32")
        latent = sample_latent(parts, SHOT.but(width=64, height=32, frames=9, steps=2), vae=parts[1])
    _raises("DVLTXUpsampleLatent", "latent_upsampler", "8 latent channels", DVLTXUpsampleLatent().upsample, latent,
            other, parts[1], 0.0, 0.0)
    # The refined latent is 64x32; DVSampler asks for another size.
    (refine,) = DVLTXRefineLatent().build(latent, 0.5)
    _raises("DVSampler", "width", "width 64, height 32 and num_frames 9", _sample, parts, vae=parts[1],
            options=refine)
    (too_little,) = DVLTXRefineLatent().build(latent, 0.1)
    _raises("DVSampler", "num_inference_steps", "at least 10", _sample, parts, SHOT.but(width=64, height=32, frames=9),
            vae=parts[1], options=too_little)
    _raises("DVLTXRefineLatent", "samples", "LATENT of DVSampler", DVLTXRefineLatent().build, {"samples": 1}, 0.4)


def test_conditions_on_a_dynamic_shift_scheduler_are_refused(tiny_models_dir):
    """LTX-Video 0.9.1's scheduler shifts by resolution; LTXConditionPipeline's own timesteps cannot run on it."""
    from diffusers_video.tiny_models.cache import install_into_models_dir
    from parity import load_parts

    install_into_models_dir(tiny_models_dir, "ltx", "tiny-ltx")
    old = load_parts("tiny-ltx")
    assert old[0].family.variant == "ltx-0.9" and old[0].family.label == "LTX-Video"
    _raises("DVSampler", "scheduler", "0.9.5+", _sample, old, vae=old[1], options=options(("image", picture(), 0, 1.0)))


def test_report_measured_differences():
    """The max |diff| of each parity run above (printed with -s), all within 1e-5."""
    print({name: f"{diff:.3g}" for name, diff in MEASURED.items()})
    assert all(diff <= 1e-5 for diff in MEASURED.values())
