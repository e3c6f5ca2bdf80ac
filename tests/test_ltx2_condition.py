"""LTX-2 keyframes and clips (DVLTXCondition -> DVLTX2Options -> DVSampler: LTX2ConditionPipeline) and the two-stage
recipe (DVSampler small, DVLTXUpsampleLatent with LTX-2's latent upscaler, DVLTXRefineLatent -> DVSampler at twice
the size) against the diffusers pipelines and the LTX-2 guide's recipe on tiny offline models: frames and sound."""

from __future__ import annotations

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.ltx import DVLTXCondition, DVLTXLatentUpsamplerLoader, DVLTXRefineLatent, DVLTXUpsampleLatent
from diffusers_video.nodes.vae import DVAudioDecode
from parity import Shot, as_pil, assert_parity, decode, independent, sample_latent, tiny_model_fixtures

PROMPT, NEGATIVE = "a paper boat drifts down a rainy street, thunder rumbles", "blurry, low quality"
W, H, F, STEPS, SEED = 64, 64, 17, 2, 7
SHOT = Shot(W, H, F, STEPS, guidance=3.0, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=32)
# Guidance off everywhere, LTX-2.0's cross-attention modulation (one model pass per step), as diffusers' own test.
PLAIN = {"frame_rate": 25.0, "stg_scale": 0.0, "spatio_temporal_guidance_blocks": "", "modality_scale": 1.0,
         "guidance_rescale": 0.0, "audio_guidance_scale": 1.0, "audio_stg_scale": 0.0, "audio_modality_scale": 1.0,
         "audio_guidance_rescale": 0.0, "use_cross_timestep": False, "image_crf": 33}
PIPELINE_PLAIN = {**{k: v for k, v in PLAIN.items() if k != "image_crf"}, "spatio_temporal_guidance_blocks": None}
UPSAMPLER = "latent_upscale_models/tiny-ltx2-upsampler"
MEASURED: dict[str, tuple[float, float]] = {}

path, parts = tiny_model_fixtures("ltx2", "tiny-ltx2")


@pytest.fixture(scope="module")
def upsampler_path(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    return install_into_models_dir(tiny_models_dir, "ltx2_upsampler", "tiny-ltx2-upsampler", "latent_upscale_models")


def picture(height: int = H, width: int = W, shift: float = 0.0) -> torch.Tensor:
    y = torch.linspace(0, 1, height)[:, None]
    x = torch.linspace(0, 1, width)[None, :]
    return torch.stack([(x + shift) % 1 * torch.ones_like(y), y * torch.ones_like(x), (x * y * 3 + shift) % 1],
                       -1)[None]


def clip(frames: int, height: int = H, width: int = W) -> torch.Tensor:
    return torch.cat([picture(height, width, t / frames) for t in range(frames)])


def options(*conditions, **ltx2):
    """DVLTXCondition nodes chained in order, then DVLTX2Options: conditions are (kind, frames, index, strength)."""
    from diffusers_video.nodes import NODE_CLASS_MAPPINGS

    chain = None
    for kind, frames, index, strength in conditions:
        (chain,) = DVLTXCondition().build(index, strength, 0.025, **{kind: frames}, options=chain)
    return NODE_CLASS_MAPPINGS["DVLTX2Options"]().build(**{**PLAIN, **ltx2}, options=chain)[0]


@independent
def reference(folder: str, shot: Shot, conditions: list, **kwargs):
    """LTX2ConditionPipeline as the guide calls it: (frames [F, H, W, 3] in 0..1, waveform [B, C, S])."""
    from diffusers import LTX2ConditionPipeline
    from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition
    from transformers import AutoTokenizer

    # LTX2ConditionPipeline reads the tokenizer's padding side when it is built (LTX2Pipeline when it is called,
    # after its encode_prompt has set "left"), and the tiny tokenizer is saved with "right": loaded with "left",
    # the side the pipeline pads prompts on and assumes for Gemma 3, as the graph's pipeline (no tokenizer) has it.
    tokenizer = AutoTokenizer.from_pretrained(folder, subfolder="tokenizer", padding_side="left")
    pipe = LTX2ConditionPipeline.from_pretrained(folder, tokenizer=tokenizer)
    pipe.set_progress_bar_config(disable=True)
    made = [LTX2VideoCondition(frames=frames, index=index, strength=strength) for frames, index, strength in conditions]
    out = pipe(conditions=made, prompt=shot.prompt, negative_prompt=shot.negative, width=shot.width,
               height=shot.height, num_frames=shot.frames, num_inference_steps=shot.steps,
               guidance_scale=shot.guidance, max_sequence_length=shot.max_len,
               generator=torch.Generator("cpu").manual_seed(shot.seed), output_type="np", **kwargs)
    return torch.from_numpy(out.frames[0]), out.audio


def graph(model_parts, shot: Shot, **inputs):
    latent = sample_latent(model_parts, shot, vae=model_parts[1], **inputs)
    with torch.inference_mode():
        audio = DVAudioDecode().decode(model_parts[0], latent)[0]
    return decode(model_parts, latent), audio["waveform"], latent


def check(name: str, frames, waveform, expected_frames, expected_audio) -> None:
    frame_diff = assert_parity(frames, expected_frames)
    assert waveform.shape == expected_audio.shape and waveform.std() > 1e-3
    audio_diff = (waveform - expected_audio.float()).abs().max().item()  # sample by sample
    assert audio_diff <= 1e-5, f"audio differs from the pipeline's: max |diff| {audio_diff:.3g}"
    MEASURED[name] = (frame_diff, audio_diff)
    print(f"LTX-2 {name}: frames max |diff| {frame_diff:.3g}, audio max |diff| {audio_diff:.3g}")


def test_first_and_last_keyframes_match_pipeline(parts, path):
    """The guide's first-last-frame example: DVLTXCondition at frame 0 and at the last frame (the pipeline's index
    -1) wired straight into DVSampler, so the guide's default guidance stack runs; both images CRF-33 re-compressed."""
    first, last = picture(), picture(shift=0.5)
    (chain,) = DVLTXCondition().build(0, 1.0, 0.025, image=first)
    (chain,) = DVLTXCondition().build(F - 1, 0.8, 0.025, image=last, options=chain)
    frames, waveform, latent = graph(parts, SHOT, options=chain)
    assert frames.shape == (F, H, W, 3) and latent["samples"].shape == (1, 4, 3, 2, 2)  # no keyframe tokens left
    expected = reference(path, SHOT, [(as_pil(first)[0], 0, 1.0), (as_pil(last)[0], -1, 0.8)])
    check("first+last keyframes", frames, waveform, *expected)
    plain, _, _ = graph(parts, SHOT)
    assert (frames - plain).abs().max().item() > 1e-3  # the keyframes reach the run


def test_clip_after_frame_0_with_sampler_image_matches_pipeline(parts, path):
    """DVSampler's image as the frame-0 keyframe, a 9-frame clip from frame 8 (latent frame 1: appended as keyframe
    tokens, not CRF-compressed), every guidance off (DVLTX2Options)."""
    moving = clip(9)
    frames, waveform, _ = graph(parts, SHOT.but(guidance=1.0), image=picture(),
                                options=options(("video", moving, 8, 0.9)))
    expected = reference(path, SHOT.but(guidance=1.0), [(as_pil(picture())[0], 0, 1.0), (as_pil(moving), 1, 0.9)],
                         **PIPELINE_PLAIN)
    check("image + clip", frames, waveform, *expected)


def test_condition_of_another_size_is_fitted_as_the_pipeline_fits_it(parts, path):
    """LTX2ConditionPipeline scales a condition to cover the video and crops its centre (bilinear, no refusal): a
    96x48 keyframe at frame 9 reaches it as the PIL image the guide would load."""
    wide = picture(48, 96, 0.25)
    frames, waveform, _ = graph(parts, SHOT.but(guidance=1.0), options=options(("image", wide, 9, 1.0)))
    expected = reference(path, SHOT.but(guidance=1.0), [(as_pil(wide)[0], 2, 1.0)], **PIPELINE_PLAIN)
    check("wide keyframe", frames, waveform, *expected)


def test_upsample_latent_matches_pipeline_and_keeps_the_sound(parts, upsampler_path):
    from diffusers.pipelines.ltx2 import LTX2LatentUpsamplePipeline
    from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

    with torch.inference_mode():
        (upsampler,) = DVLTXLatentUpsamplerLoader().load(UPSAMPLER, "fp32")
        latent = sample_latent(parts, SHOT.but(frames=9, guidance=1.0), vae=parts[1], options=options())
        pipe = LTX2LatentUpsamplePipeline(vae=parts[1].module,
                                          latent_upsampler=LTX2LatentUpsamplerModel.from_pretrained(upsampler_path))
        for adain, tone in ((0.0, 0.0), (1.0, 0.6)):
            (up,) = DVLTXUpsampleLatent().upsample(latent, upsampler, parts[1], adain, tone)
            expected = pipe(latents=latent["samples"], adain_factor=adain, tone_map_compression_ratio=tone,
                            output_type="latent").frames
            MEASURED[f"upsample adain {adain}"] = (assert_parity(up["samples"], expected), 0.0)
    assert upsampler.family_id == "ltx2"
    assert up["samples"].shape == (1, 4, 2, 4, 4)  # twice the width and height
    assert up["dv_audio_samples"] is latent["dv_audio_samples"] and up["dv_num_frames"] == 9


@independent
def two_stage_recipe(folder: str, upsampler_folder: str, small: Shot, big: Shot):
    """The diffusers LTX-2 guide's two-stage text-to-video recipe: stage 1 latents (video and sound), the video
    latent upscaled by LTX2LatentUpsamplePipeline, stage 2 on the stage-2 distilled sigmas used as they are (the
    scheduler without dynamic shifting or terminal stretch), renoised to the first, guidance 1, sound from stage 1."""
    from diffusers import FlowMatchEulerDiscreteScheduler, LTX2Pipeline
    from diffusers.pipelines.ltx2 import LTX2LatentUpsamplePipeline
    from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel
    from diffusers.pipelines.ltx2.utils import STAGE_2_DISTILLED_SIGMA_VALUES

    pipe = LTX2Pipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    common = {"prompt": small.prompt, "negative_prompt": small.negative, "max_sequence_length": small.max_len,
              "num_frames": small.frames, "frame_rate": 25.0, "stg_scale": 0.0, "modality_scale": 1.0,
              "guidance_rescale": 0.0, "audio_guidance_scale": 1.0, "audio_stg_scale": 0.0,
              "audio_modality_scale": 1.0, "audio_guidance_rescale": 0.0, "spatio_temporal_guidance_blocks": None,
              "use_cross_timestep": False}
    video_latent, audio_latent = pipe(**common, width=small.width, height=small.height,
                                      num_inference_steps=small.steps, guidance_scale=small.guidance,
                                      generator=torch.Generator("cpu").manual_seed(small.seed), output_type="latent",
                                      return_dict=False)
    upsample_pipe = LTX2LatentUpsamplePipeline(
        vae=pipe.vae, latent_upsampler=LTX2LatentUpsamplerModel.from_pretrained(upsampler_folder))
    upscaled = upsample_pipe(latents=video_latent, output_type="latent", return_dict=False)[0]
    pipe.scheduler = FlowMatchEulerDiscreteScheduler.from_config(pipe.scheduler.config, use_dynamic_shifting=False,
                                                                 shift_terminal=None)
    video, audio = pipe(**common, latents=upscaled, audio_latents=audio_latent, width=big.width, height=big.height,
                        num_inference_steps=3, noise_scale=STAGE_2_DISTILLED_SIGMA_VALUES[0],
                        sigmas=STAGE_2_DISTILLED_SIGMA_VALUES, guidance_scale=1.0,
                        generator=torch.Generator("cpu").manual_seed(big.seed), output_type="np", return_dict=False)
    return torch.from_numpy(video[0]), audio


def test_two_stage_graph_matches_the_guides_recipe(parts, path, upsampler_path):
    """DVSampler at 64x64, DVLTXUpsampleLatent, DVLTXRefineLatent with the guide's stage-2 sigmas -> DVSampler at
    128x128 (3 steps, guidance 1, another seed), DVVAEDecode and DVAudioDecode: the guide's recipe, frames and sound."""
    small = SHOT.but(frames=9, guidance=3.0)
    big = small.but(width=128, height=128, steps=3, guidance=1.0, seed=SEED + 1)
    with torch.inference_mode():
        (upsampler,) = DVLTXLatentUpsamplerLoader().load(UPSAMPLER, "fp32")
        latent = sample_latent(parts, small, vae=parts[1], options=options())
        (up,) = DVLTXUpsampleLatent().upsample(latent, upsampler, parts[1], 0.0, 0.0)
        (refine,) = DVLTXRefineLatent().build(up, 0.4, options=options(), sigmas="0.909375, 0.725, 0.421875")
    frames, waveform, _ = graph(parts, big, options=refine)
    assert frames.shape == (9, 128, 128, 3)
    check("two-stage", frames, waveform, *two_stage_recipe(path, upsampler_path, small, big))


def test_refine_by_denoise_strength_matches_pipeline(parts, path):
    """Empty sigmas: the last denoise_strength share of the schedule DVSampler would run at this size (the model's
    dynamic shift and terminal stretch), then used as they are, as the guide's stage 2 runs its sigmas."""
    import numpy as np
    from diffusers import FlowMatchEulerDiscreteScheduler, LTX2Pipeline
    from diffusers.pipelines.ltx2.pipeline_ltx2 import calculate_shift

    shot = SHOT.but(frames=9, guidance=1.0, steps=5)
    with torch.inference_mode():
        latent = sample_latent(parts, shot.but(steps=2), vae=parts[1], options=options())
        (refine,) = DVLTXRefineLatent().build(latent, 0.6, options=options())
    frames, waveform, _ = graph(parts, shot, options=refine)

    pipe = LTX2Pipeline.from_pretrained(path)
    pipe.set_progress_bar_config(disable=True)
    config = pipe.scheduler.config
    full = FlowMatchEulerDiscreteScheduler.from_config(config)
    full.set_timesteps(sigmas=np.linspace(1.0, 1 / 5, 5), mu=calculate_shift(
        2 * 2 * 2, config.base_image_seq_len, config.max_image_seq_len, config.base_shift, config.max_shift))
    tail = full.sigmas[2:-1].tolist()  # int(5 * 0.6) = 3 steps
    pipe.scheduler = FlowMatchEulerDiscreteScheduler.from_config(config, use_dynamic_shifting=False,
                                                                 shift_terminal=None, shift=1.0)
    video, audio = pipe(prompt=shot.prompt, negative_prompt=shot.negative, max_sequence_length=shot.max_len,
                        width=W, height=H, num_frames=9, latents=latent["samples"],
                        audio_latents=latent["dv_audio_samples"], sigmas=tail, noise_scale=tail[0],
                        num_inference_steps=3, guidance_scale=1.0, **PIPELINE_PLAIN,
                        generator=torch.Generator("cpu").manual_seed(shot.seed), output_type="np", return_dict=False)
    check("refine 0.6", frames, waveform, torch.from_numpy(video[0]), audio)


def test_upscaler_loads_from_the_ltx2_folder_and_from_a_single_file(upsampler_path, path, tiny_models_dir):
    """Lightricks/LTX-2 keeps the upscaler in a latent_upsampler subfolder beside the pipeline's components, and
    ltx-2-spatial-upscaler-*.safetensors files hold its weights alone (the rational resampler's conv): both list
    and load as the tiny upscaler folder does."""
    import os
    import shutil

    from safetensors.torch import save_file

    folder = os.path.join(tiny_models_dir, "diffusers", "tiny-ltx2-with-upscaler")
    os.makedirs(folder, exist_ok=True)
    shutil.copy(os.path.join(path, "model_index.json"), folder)
    if not os.path.exists(os.path.join(folder, "latent_upsampler")):
        os.symlink(upsampler_path, os.path.join(folder, "latent_upsampler"))
    (from_folder,) = DVLTXLatentUpsamplerLoader().load(UPSAMPLER, "fp32")
    single = os.path.join(tiny_models_dir, "latent_upscale_models", "ltx-2-spatial-upscaler-tiny.safetensors")
    save_file(from_folder.module.state_dict(), single)
    choices = DVLTXLatentUpsamplerLoader.INPUT_TYPES()["required"]["latent_upsampler"][0]
    assert {UPSAMPLER, "diffusers/tiny-ltx2-with-upscaler",
            "latent_upscale_models/ltx-2-spatial-upscaler-tiny.safetensors"} <= set(choices)
    assert "diffusers/tiny-ltx2" not in choices  # a model folder without an upscaler is no choice
    for name in ("diffusers/tiny-ltx2-with-upscaler", "latent_upscale_models/ltx-2-spatial-upscaler-tiny.safetensors"):
        (loaded,) = DVLTXLatentUpsamplerLoader().load(name, "fp32")
        assert loaded.family_id == "ltx2" and type(loaded.module) is type(from_folder.module)
        assert {k: v for k, v in loaded.module.config.items() if not k.startswith("_")} == {
            k: v for k, v in from_folder.module.config.items() if not k.startswith("_")}
        assert all(torch.equal(a, b) for a, b in zip(loaded.module.state_dict().values(),
                                                     from_folder.module.state_dict().values(), strict=True))


def refused(node: str, input_name: str, valid: str, call) -> DVInputError:
    with pytest.raises(DVInputError) as info, torch.inference_mode():
        call()
    text = str(info.value)
    assert info.value.node == node and info.value.input_name == input_name, text
    assert f"{node}: input '{input_name}'" in text and valid in text, text
    return info.value


ltx_path, ltx_parts = tiny_model_fixtures("ltx_095")


def test_bad_inputs_are_refused_by_name(parts, upsampler_path, tiny_models_dir, ltx_parts):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    vae = parts[1]

    def sampler(shot=SHOT, **inputs):
        return lambda: sample_latent(parts, shot, vae=vae, **inputs)

    # A keyframe past the last frame (the pipeline would skip it with a log line).
    error = refused("DVSampler", "options", "a frame_index from 0 to 16, or num_frames 25 or more",
                    sampler(options=options(("image", picture(), 0, 1.0), ("image", picture(), 20, 1.0))))
    assert "DVLTXCondition #2 (image at frame 20)" in str(error)
    # LTX-Video's image_cond_noise_scale changed from its default: LTX-2 has no such setting (not ignored silently).
    (noisy,) = DVLTXCondition().build(0, 1.0, 0.1, image=picture())
    refused("DVSampler", "options", "0.025 (its default, unused by LTX-2)", sampler(options=noisy))
    # Upscalers of the other family, both ways round (before any work).
    install_into_models_dir(tiny_models_dir, "ltx_upsampler", "tiny-ltx-upsampler")
    with torch.inference_mode():
        (ltx_upsampler,) = DVLTXLatentUpsamplerLoader().load("diffusers/tiny-ltx-upsampler", "fp32")
        (ltx2_upsampler,) = DVLTXLatentUpsamplerLoader().load(UPSAMPLER, "fp32")
    ltx2_latent = {"samples": torch.randn(1, 4, 2, 2, 2), "dv_family": "ltx2", "dv_num_frames": 9,
                   "dv_audio_samples": torch.randn(1, 2, 9, 2)}
    ltx_latent = {"samples": torch.randn(1, 8, 2, 1, 2), "dv_family": "ltx", "dv_num_frames": 9}
    refused("DVLTXUpsampleLatent", "latent_upsampler", "the LTX-2 latent upscaler (the latent_upsampler of the LTX-2",
            lambda: DVLTXUpsampleLatent().upsample(ltx2_latent, ltx_upsampler, vae, 0.0, 0.0))
    error = refused("DVLTXUpsampleLatent", "latent_upsampler", "the LTX-Video latent upscaler (ltxv-spatial",
                    lambda: DVLTXUpsampleLatent().upsample(ltx_latent, ltx2_upsampler, ltx_parts[1], 0.0, 0.0))
    assert "this is an LTX-2 latent upscaler" in str(error)
    refused("DVLTXUpsampleLatent", "vae", "the LTX-2 VAE of the model",
            lambda: DVLTXUpsampleLatent().upsample(ltx2_latent, ltx2_upsampler, ltx_parts[1], 0.0, 0.0))
    # Stage 2: as many steps as sigmas, sigmas that fall, the latent's own size, not LTX-Video.
    (three,) = DVLTXRefineLatent().build(ltx2_latent, 0.4, sigmas="0.909375, 0.725, 0.421875")
    refused("DVSampler", "num_inference_steps", "num_inference_steps 3", sampler(SHOT.but(frames=9), options=three))
    refused("DVLTXRefineLatent", "sigmas", "comma-separated numbers",
            lambda: DVLTXRefineLatent().build(ltx2_latent, 0.4, sigmas="0.4, 0.9"))
    refused("DVLTXRefineLatent", "sigmas", "comma-separated numbers",
            lambda: DVLTXRefineLatent().build(ltx2_latent, 0.4, sigmas="half"))
    (refine,) = DVLTXRefineLatent().build(ltx2_latent, 0.5)
    refused("DVSampler", "width", "width 64, height 64 and num_frames 9", sampler(options=refine))
    refused("DVSampler", "num_inference_steps", "at least 3",
            sampler(SHOT.but(frames=9), options=DVLTXRefineLatent().build(ltx2_latent, 0.4)[0]))
    (ltx_refine,) = DVLTXRefineLatent().build(ltx_latent, 0.4, sigmas="0.9, 0.5")
    refused("DVSampler", "options", "empty sigmas on DVLTXRefineLatent with an LTX-Video model",
            lambda: sample_latent(ltx_parts, SHOT.but(width=64, height=32, frames=9), vae=ltx_parts[1],
                                  options=ltx_refine))


def test_report_measured_differences():
    """The max |diff| (frames, sound) of each parity run above (printed with -s), all within 1e-5."""
    print({name: f"{frames:.3g} / {audio:.3g}" for name, (frames, audio) in MEASURED.items()})
    assert all(max(diffs) <= 1e-5 for diffs in MEASURED.values())
