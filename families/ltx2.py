"""LTX-2 (Lightricks): video with its sound from text or a first frame. A Gemma 3 text encoder whose hidden states
(every layer) go through text connectors into an audio-video DiT that denoises video and audio latents together;
a 32x/8x video VAE, and an audio VAE (mel spectrograms) with a vocoder for the waveform.

LTX-2 glue: LTX2Pipeline / LTX2ImageToVideoPipeline for prompts and sampling. The sampler's LATENT carries both
latents as the pipeline hands them over with output_type="latent" (in the VAEs' own scale, as its two-stage
recipe passes them on): "samples" the video [B, C, F, H, W], AUDIO_KEY the audio [B, C, L, mel bins]. DVVAEDecode
decodes the video as the pipeline does; DVAudioDecode the sound (the audio VAE and vocoder ride on the model).

The connectors, audio VAE and vocoder are the model's companions (DVPipelineLoader puts every component besides
denoiser, VAE, scheduler and text side there): the connectors and the audio VAE's statistics are part of sampling,
and the sound is decoded from the model."""

from __future__ import annotations

from typing import Any

from .. import host
from ..errors import DVInputError
from ..model_loaders.components import DVVAE, DVConditioning, DVModel, DVSchedulerSpec, DVTextEncoder
from ..samplers import decode as decode_util
from ..samplers.clip_text import T5_EMBED_KEYS, check_length
from ..samplers.pipeline import SampleInputs, SampleParams, assemble, denoisers_loaded, run_denoise
from ..samplers.validate import check_common, check_steps_for_terminal_shift, check_text_width, require_conditioning
from .ltx import (
    CONDITIONS,
    DENOISE_STRENGTH,
    IMAGE_COND_NOISE,
    IMAGE_COND_NOISE_DEFAULT,
    REFINE_LATENT,
    REFINE_SIGMAS,
    LTXKeyframe,
)
from .spec import Family, FrameRule, LatentGeometry, OptionSpec

# The LATENT key of the sound: the audio latents [B, C, L, mel bins], L following num_frames / frame_rate.
AUDIO_KEY = "dv_audio_samples"
# The companions the sampler and DVAudioDecode need, by their pipeline argument names.
CONNECTORS, AUDIO_VAE, VOCODER = "connectors", "audio_vae", "vocoder"


def _vae_geometry(cfg, default: LatentGeometry) -> LatentGeometry:
    """LTX-2's video VAE writes its compression into its config (32 and 8 as released); else the patch size
    times one halving per scaling block, as AutoencoderKLLTX2Video computes it."""
    steps = sum(bool(x) for x in cfg.get("spatio_temporal_scaling") or ())
    spatial = cfg.get("spatial_compression_ratio") or int(cfg.get("patch_size", 4)) * 2**steps
    temporal = cfg.get("temporal_compression_ratio") or int(cfg.get("patch_size_t", 1)) * 2**steps
    return LatentGeometry(spatial=int(spatial), temporal=int(temporal),
                          channels=int(cfg.get("latent_channels", default.channels)),
                          scaling_factor=float(cfg.get("scaling_factor", default.scaling_factor)))


FAMILY = Family(
    id="ltx2",
    label="LTX-2",
    # "condition": keyframes and clips at frame indices (DVLTXCondition chained into DVLTX2Options).
    pipeline_classes={"t2v": "LTX2Pipeline", "i2v": "LTX2ImageToVideoPipeline", "condition": "LTX2ConditionPipeline"},
    model_classes=("LTX2VideoTransformer3DModel",),
    vae_classes=("AutoencoderKLLTX2Video",),
    text_encoder_classes=("Gemma3ForConditionalGeneration",),
    frame_rule=FrameRule(multiple=8, offset=1),
    size_multiple=32,
    pipeline_size_multiple=32,  # LTX2Pipeline.check_inputs: "height and width have to be divisible by 32"
    geometry=LatentGeometry(spatial=32, temporal=8, channels=128, scaling_factor=1.0),
    vae_geometry=_vae_geometry,
    order=26,
    # Checked on 2 gloo ranks with the tiny model: "The size of tensor a (2) must match the size of tensor b (4) at
    # non-singleton dimension 4", as LTX-Video's.
    context_parallel_refusal="diffusers' Ulysses attention fails on LTX-2's text attention mask (the mask keeps "
    "every head while each rank holds a share of them), with diffusers 0.42.1",
    # ComfyUI's LTX-2 format (0.33+); before it, LTX-Video's, which reads the same 128 video channels.
    comfy_latent_format="LTXAV|LTXV",
    flow_matching=True,
    batched_cfg=True,
    # The diffusers LTX-2 guide's example: 768x512, 121 frames at 24 fps, 30 steps (num_inference_steps'
    # default), guidance 3; max_sequence_length is the pipeline's default (1024).
    defaults={"num_frames": 121, "fps": 24, "steps": 30, "guidance_scale": 3.0, "width": 768, "height": 512,
              "max_sequence_length": 1024},
    options=(
        OptionSpec("frame_rate", "FLOAT", 24.0, "The frame rate the model is told the video has; it sets the "
                   "positions in time and how long the sound is (num_frames / frame_rate seconds). Match "
                   "DVVideoCombine's fps.", 1.0, 120.0, 0.01),
        OptionSpec("stg_scale", "FLOAT", 1.0, "Spatio-temporal guidance of the video (0 off): steers away from a "
                   "pass with self-attention skipped in the blocks below (one more model pass per step).",
                   0.0, 30.0, 0.1),
        OptionSpec("spatio_temporal_guidance_blocks", "STRING", "28", "Comma-separated transformer block indices "
                   "where STG skips self-attention (the guide's 28).", None, None, None),
        OptionSpec("modality_scale", "FLOAT", 3.0, "Guidance away from a pass with the audio-video cross-attention "
                   "off (1 off), for sound that fits the picture.", 0.0, 30.0, 0.1),
        OptionSpec("guidance_rescale", "FLOAT", 0.7, "Pull the guided video prediction's spread back towards the "
                   "prompt-only one (0 off), against over-exposure at high guidance.", 0.0, 1.0, 0.05),
        OptionSpec("audio_guidance_scale", "FLOAT", 7.0, "Classifier-free guidance of the sound (0: the video's "
                   "guidance_scale); the guide recommends more than for the video.", 0.0, 30.0, 0.1),
        OptionSpec("audio_stg_scale", "FLOAT", 1.0, "Spatio-temporal guidance of the sound (0: the video's).",
                   0.0, 30.0, 0.1),
        OptionSpec("audio_modality_scale", "FLOAT", 3.0, "Modality guidance of the sound (0: the video's).",
                   0.0, 30.0, 0.1),
        OptionSpec("audio_guidance_rescale", "FLOAT", 0.7, "Guidance rescale of the sound (0: the video's).",
                   0.0, 1.0, 0.05),
        OptionSpec("use_cross_timestep", "BOOLEAN", True, "Modulate each modality's cross-attention by the other's "
                   "noise level: on for LTX-2.3 and later, off for LTX-2.0's original behaviour."),
        OptionSpec("image_crf", "INT", 33, "Image-to-video: the first frame is re-compressed with H.264 at this "
                   "CRF as the model saw frames in training (33 for the Gemma 3 releases; 0 skips it).", 0, 51, 1),
    ),
    options_node="DVLTX2Options",
    # The diffusers LTX-2 guide loads the pipeline with torch_dtype=torch.bfloat16 for every component.
    fp16_overflows=True,
)

# LTX-2's released scheduler (scheduler_config.json of Lightricks/LTX-2): FlowMatch Euler with dynamic shifting.
# Used when a model comes without its folder.
DEFAULT_SCHEDULER = DVSchedulerSpec.from_config_dict(
    "FlowMatchEulerDiscreteScheduler",
    {"num_train_timesteps": 1000, "shift": 1.0, "use_dynamic_shifting": True, "base_shift": 0.95,
     "max_shift": 2.05, "base_image_seq_len": 1024, "max_image_seq_len": 4096, "shift_terminal": 0.1},
    "LTX-2 default",
)


def _pipeline_class(task: str = "t2v"):
    import diffusers

    return getattr(diffusers, FAMILY.pipeline_classes[task])


def encode(te: DVTextEncoder, prompt: str, negative_prompt: str, max_sequence_length: int,
           truncate: bool) -> DVConditioning:
    """The pipeline's own encode_prompt: every hidden state of Gemma, stacked, with the attention mask (left
    padding to max_sequence_length); the text connectors run in the sampler, as in the pipeline's __call__."""
    if te.tokenizer is None:
        raise DVInputError("text_encoder", "this text encoder came without its tokenizer.",
                           "load it from a diffusers folder that has a tokenizer subfolder.")
    notes = check_length(te.tokenizer, {"prompt": prompt, "negative_prompt": negative_prompt},
                         max_sequence_length, truncate)
    host.load_to_device([te.managed])
    pipe = assemble(_pipeline_class(), tokenizer=te.tokenizer, text_encoder=te.module)
    outputs = pipe.encode_prompt(prompt, negative_prompt, do_classifier_free_guidance=True,
                                 max_sequence_length=max_sequence_length, device=te.managed.device)
    return DVConditioning(FAMILY, prompt, negative_prompt, dict(zip(T5_EMBED_KEYS, outputs, strict=True)), notes)


def _companion(model: DVModel, role: str, input_name: str = "model"):
    found = model.companions.get(role)
    if found is None:
        raise DVInputError(input_name, f"'{model.source}' has no {role} (LTX-2 needs its text connectors, audio "
                           "VAE and vocoder beside the transformer).",
                           "an LTX-2 diffusers folder loaded with DVPipelineLoader (it has all of them).")
    return found


def _check_vae(vae: DVVAE | None, input_name: str = "vae") -> DVVAE:
    if vae is None:
        raise DVInputError(input_name, "LTX-2's pipeline hands its latents over in the VAE's own scale (it reads "
                           "the VAE's latents mean and std) and encodes a first frame with it, and no VAE is wired "
                           "in.", "the VAE from the same LTX-2 folder into DVSampler's vae.")
    if vae.family.id != FAMILY.id:
        raise DVInputError(input_name, f"this is a {vae.family.label} VAE, and the model is {FAMILY.label}.",
                           f"the VAE from the same {FAMILY.label} folder.")
    return vae


def _guidance_blocks(text: str) -> list[int] | None:
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    try:
        blocks = [int(p) for p in parts]
    except ValueError:
        raise DVInputError("options", f"spatio_temporal_guidance_blocks '{text}' is not a list of block indices.",
                           "comma-separated whole numbers such as '28' or '20, 28', or empty with stg_scale "
                           "0.") from None
    if any(b < 0 for b in blocks):
        raise DVInputError("options", f"spatio_temporal_guidance_blocks '{text}' has a negative index.",
                           "block indices from 0.")
    return blocks or None


def _options(model: DVModel, inputs: SampleInputs) -> dict[str, Any]:
    """The pipeline arguments of DVLTX2Options (its defaults, the guide's LTX-2.3 settings, when none is wired)."""
    values = {spec.name: inputs.option(spec.name, spec.default) for spec in FAMILY.options}
    values["spatio_temporal_guidance_blocks"] = _guidance_blocks(values["spatio_temporal_guidance_blocks"])
    if (values["stg_scale"] > 0 or values["audio_stg_scale"] > 0) and not values["spatio_temporal_guidance_blocks"]:
        raise DVInputError("options", "stg_scale (or audio_stg_scale) is on, and no spatio_temporal_guidance_blocks "
                           "are given.", "block indices such as '28', or stg_scale and audio_stg_scale 0.")
    layers = int(model.module.config.num_layers)
    outside = [b for b in values["spatio_temporal_guidance_blocks"] or () if b >= layers]
    # Only blocks the user typed: the default (the guide's 28) is the released 48-block models'.
    if outside and inputs.option("spatio_temporal_guidance_blocks", None) is not None:
        raise DVInputError("options", f"spatio_temporal_guidance_blocks {outside} are past this transformer's "
                           f"{layers} blocks.", f"block indices from 0 to {layers - 1}.")
    return values


def _check_inputs(model: DVModel, params: SampleParams, inputs: SampleInputs) -> tuple[str, DVConditioning]:
    if inputs.video is not None:
        raise DVInputError("video", f"{FAMILY.label} takes no video here.", "disconnect 'video'.")
    for role in (CONNECTORS, AUDIO_VAE):
        _companion(model, role)
    cond = require_conditioning(model, inputs)
    check_common(model, cond, params, FAMILY.size_multiple)
    connectors = model.companions[CONNECTORS].module
    expected = int(connectors.config.caption_channels) * int(connectors.config.text_proj_in_factor)
    check_text_width(model, cond, expected, "Gemma 3 text encoder")
    _check_vae(inputs.vae)
    return ("i2v" if inputs.image is not None else "t2v"), cond


def parse_sigmas(text: str, input_name: str = "sigmas") -> tuple[float, ...]:
    """DVLTXRefineLatent's stage-2 noise levels: comma-separated, falling, in (0, 1]."""
    try:
        sigmas = tuple(float(p) for p in str(text).replace(";", ",").split(",") if p.strip())
    except ValueError:
        sigmas = ()
    falling = all(b < a for a, b in zip(sigmas, sigmas[1:], strict=False))
    if not sigmas or not falling or any(not 0 < x <= 1 for x in sigmas):
        raise DVInputError(input_name, f"'{text}' is not a falling list of noise levels in (0, 1].",
                           "comma-separated numbers such as the diffusers guide's stage 2 '0.909375, 0.725, "
                           "0.421875', or empty (denoise_strength).")
    return sigmas


def _keyframes(inputs: SampleInputs, params: SampleParams, temporal: int, crf: int) -> list[Any]:
    """DVLTXCondition's keyframes and clips as diffusers' LTX2VideoConditions (DVSampler's image first, at frame 0).
    LTX-2's pipeline takes a latent index: frame_index goes to the latent frame holding it (frame 0 alone, then
    frames 1-8, 9-16, ...), as ComfyUI's LTX guide nodes round it; the frames go as the 8-bit PIL images the guide
    loads, which the pipeline fits itself (scale to cover, centre crop), so no size is refused."""
    from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition

    from ..samplers.image_input import check_frames, to_pil, to_pil_frames

    keyframes = list(inputs.option(CONDITIONS, ()) or ())
    if not keyframes:
        return []
    noise = inputs.option(IMAGE_COND_NOISE, None)
    if noise is not None and float(noise) != IMAGE_COND_NOISE_DEFAULT:
        # The widget is LTX-Video's; set to anything else it would be ignored here, so it is refused.
        raise DVInputError("options", f"DVLTXCondition's image_cond_noise_scale is {noise}, but LTX-2's condition "
                           "pipeline has no such setting.", f"{IMAGE_COND_NOISE_DEFAULT} (its default, unused "
                           "by LTX-2) on every DVLTXCondition, or an LTX-Video model.")
    if inputs.image is not None:
        keyframes.insert(0, LTXKeyframe(inputs.image, None, 0, 1.0, 0))
    last = params.num_frames - 1
    made = []
    for keyframe in keyframes:
        if keyframe.frame_index > last:
            at_least = FAMILY.frame_rule.nearest(keyframe.frame_index + 1)[-1]
            # The pipeline would skip it with a log line only.
            raise DVInputError("options", f"{keyframe.named()} in the options: its frame_index "
                               f"{keyframe.frame_index} is past the last frame ({last}).",
                               f"a frame_index from 0 to {last}, or num_frames {at_least} or more.")
        frames = keyframe.image if keyframe.image is not None else keyframe.video
        check_frames(keyframe.kind, frames)
        pictures = to_pil(frames) if keyframe.image is not None else to_pil_frames(frames)
        made.append(LTX2VideoCondition(frames=pictures, index=(keyframe.frame_index + temporal - 1) // temporal,
                                       strength=keyframe.strength, crf=crf))
    return made


def _refine(model: DVModel, params: SampleParams, inputs: SampleInputs, vae: DVVAE,
            scheduler: DVSchedulerSpec) -> tuple[dict[str, Any], Any]:
    """DVLTXRefineLatent's stage 2, as the diffusers guide runs it: the latent (and its sound latents) renoised to
    the first of the stage-2 sigmas and denoised along them as they are, on the model's scheduler without dynamic
    shifting or terminal stretch. Typed sigmas are used; else the last denoise_strength share of the schedule
    DVSampler would run at this size. ({} and the model's scheduler when there is nothing to refine.)"""
    made = scheduler.create()
    latent = inputs.option(REFINE_LATENT, None)
    if latent is None:
        return {}, made
    family = latent.get("dv_family")
    if family not in (None, FAMILY.id):
        raise DVInputError("options", f"DVLTXRefineLatent's latent was sampled by a {family} model.",
                           "a latent of DVSampler with this LTX-2 model (then DVLTXUpsampleLatent).")
    samples, spatial, temporal = latent["samples"], vae.geometry.spatial, vae.geometry.temporal
    latent_frames = (params.num_frames - 1) // temporal + 1
    expected = (int(model.module.config.in_channels), latent_frames, params.height // spatial, params.width // spatial)
    if tuple(samples.shape[1:]) != expected:
        frames = int(latent.get("dv_num_frames") or (int(samples.shape[2]) - 1) * temporal + 1)
        raise DVInputError("width", f"the latent to refine is {tuple(samples.shape)}, and DVSampler asks for "
                           f"{params.width}x{params.height}, {params.num_frames} frames.",
                           f"width {int(samples.shape[-1]) * spatial}, height {int(samples.shape[-2]) * spatial} and "
                           f"num_frames {frames} on this DVSampler (the latent's own size).")
    steps = params.num_inference_steps
    sigmas = inputs.option(REFINE_SIGMAS, None)
    if sigmas:
        if len(sigmas) != steps:
            raise DVInputError("num_inference_steps", f"DVLTXRefineLatent gives {len(sigmas)} sigmas, one step each, "
                               f"and DVSampler asks for {steps} steps.", f"num_inference_steps {len(sigmas)}.")
        # The guide's stage 2: "Change scheduler to use Stage 2 distilled sigmas as is".
        stage2 = type(made).from_config(made.config, use_dynamic_shifting=False, shift_terminal=None)
    else:
        import numpy as np
        from diffusers.pipelines.ltx2.pipeline_ltx2 import calculate_shift

        strength = float(inputs.option(DENOISE_STRENGTH, 1.0))
        kept = int(steps * strength)
        if kept < 1:
            import math

            raise DVInputError("num_inference_steps", f"denoise_strength {strength} of {steps} steps runs no step.",
                               f"num_inference_steps of at least {math.ceil(1 / strength)}" if strength > 0 else
                               "a denoise_strength above 0 on DVLTXRefineLatent.")
        config = made.config
        shift = {}
        if config.get("use_dynamic_shifting"):  # mu as the pipeline computes it for this many video tokens
            shift["mu"] = calculate_shift(expected[1] * expected[2] * expected[3],
                                          config.get("base_image_seq_len", 1024), config.get("max_image_seq_len", 4096),
                                          config.get("base_shift", 0.95), config.get("max_shift", 2.05))
        made.set_timesteps(sigmas=np.linspace(1.0, 1 / steps, steps), **shift)
        sigmas = tuple(float(x) for x in made.sigmas[:-1][steps - kept:])
        stage2 = type(made).from_config(config, use_dynamic_shifting=False, shift_terminal=None, shift=1.0)
    call = {"latents": samples, "sigmas": list(sigmas), "noise_scale": float(sigmas[0]),
            "num_inference_steps": len(sigmas)}
    if latent.get(AUDIO_KEY) is not None:
        call["audio_latents"] = latent[AUDIO_KEY]
    return call, stage2


def sample(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
           inputs: SampleInputs) -> dict[str, Any]:
    task, cond = _check_inputs(model, params, inputs)
    if not inputs.option(REFINE_SIGMAS, None):  # typed stage-2 sigmas run without the terminal stretch
        check_steps_for_terminal_shift(scheduler, params.num_inference_steps)
    options = _options(model, inputs)
    dtype, device = model.managed.dtype, model.managed.device
    call_kwargs: dict[str, Any] = {
        key: value.to(device=device, dtype=dtype if value.is_floating_point() else value.dtype)
        for key, value in cond.embeds.items()}
    image_crf = int(options.pop("image_crf"))
    call_kwargs.update(options, height=params.height, width=params.width, num_frames=params.num_frames,
                       num_inference_steps=params.num_inference_steps, guidance_scale=params.guidance_scale)
    vae = inputs.vae
    conditions = _keyframes(inputs, params, vae.geometry.temporal, image_crf)
    refine, made_scheduler = _refine(model, params, inputs, vae, scheduler)
    call_kwargs.update({key: value.to(device) if hasattr(value, "to") else value for key, value in refine.items()})
    connectors, audio_vae = model.companions[CONNECTORS], model.companions[AUDIO_VAE]
    parts = {"transformer": model.module, "connectors": connectors.module, "audio_vae": audio_vae.module,
             "vae": vae.module, "scheduler": made_scheduler}
    if conditions:
        task = "condition"
        call_kwargs["conditions"] = conditions
    elif task == "i2v":
        from ..samplers.image_input import pipeline_image

        call_kwargs.update(image=pipeline_image("image", inputs.image, params.height, params.width, inputs.options),
                           image_crf=image_crf)
    pipe = assemble(_pipeline_class(task), model.pipeline_config, **parts)
    geometry = vae.geometry
    shape = ((params.num_frames - 1) // geometry.temporal + 1, params.height // geometry.spatial,
             params.width // geometry.spatial)

    tokens = shape[0] * shape[1] * shape[2]

    def unpacked(latents):  # the packed [B, tokens, C] video sequence (keyframe tokens appended after it)
        return pipe._unpack_latents(latents[:, :tokens], *shape, pipe.transformer_spatial_patch_size,
                                    pipe.transformer_temporal_patch_size)

    with denoisers_loaded(model, connectors, audio_vae, vae.managed):
        # The pipeline steps a deep copy of its scheduler for the audio: wrapping the scheduler's step for clean
        # previews would make the copy step the original, so previews show the current latents.
        video, audio = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, unpacked,
                                   output_attr=("frames", "audio"), clean_previews=False)
    intermediate = host.intermediate_device()
    return {"samples": video.to(intermediate), "dv_family": FAMILY.id, "dv_num_frames": params.num_frames,
            AUDIO_KEY: audio.to(intermediate)}


def decode(vae: DVVAE, latent: dict[str, Any], settings: decode_util.DecodeSettings):
    """As LTX2Pipeline after its loop: the latents (already in the VAE's scale) decoded in one pass, at decode
    timestep 0 for a timestep-conditioned VAE (the pipeline's default, which mixes in no noise). Spatial tiling and
    temporal chunks as the VAE offers them."""
    import torch
    from diffusers.video_processor import VideoProcessor

    _check_vae(vae)
    module = vae.module
    samples = latent["samples"]
    decode_util.check_latent(vae, samples, int(module.config.latent_channels))
    host.load_to_device([vae.managed])
    device, dtype = vae.managed.device, vae.managed.dtype
    latents = samples.to(device=device, dtype=dtype)
    timestep = torch.tensor([0.0], device=device, dtype=dtype) if module.config.timestep_conditioning else None
    spatial, temporal = vae.geometry.spatial, vae.geometry.temporal
    overrides = decode_util.strided_tiling(settings, spatial)
    if settings.chunk and settings.chunk < latents.shape[2]:
        # The VAE's own temporal tiles, as LTX-Video's: `chunk` latent frames per call, blended over one.
        overrides.update(use_framewise_decoding=True, tile_sample_min_num_frames=settings.chunk * temporal,
                         tile_sample_stride_num_frames=max(1, settings.chunk - 1) * temporal)
    with decode_util.temporary_attributes(module, **overrides):
        calls = decode_util.strided_tile_count(module, latents, spatial)
        with decode_util.progress_per_call(module.decoder, calls):
            video = module.decode(latents, timestep, return_dict=False)[0]
    return decode_util.to_image(VideoProcessor(vae_scale_factor=spatial), video)


def decode_audio(model: DVModel, latent: dict[str, Any]) -> dict[str, Any]:
    """DVAudioDecode: as LTX2Pipeline decodes the sound after its loop: the audio VAE's mel spectrogram through the
    vocoder. ComfyUI AUDIO: {"waveform": [B, channels, samples] float32 on the CPU, "sample_rate": the vocoder's
    output rate}."""
    import torch

    audio_vae, vocoder = _companion(model, AUDIO_VAE), _companion(model, VOCODER)
    audio = latent.get(AUDIO_KEY)
    if audio is None:
        raise DVInputError("samples", "this LTX-2 LATENT has no audio latents (a LATENT saved and loaded again "
                           "keeps only the video).", "the LATENT straight from DVSampler with an LTX-2 model.")
    channels = int(audio_vae.module.config.latent_channels)
    if audio.ndim != 4 or int(audio.shape[1]) != channels:
        raise DVInputError("samples", f"the audio latents have shape {tuple(audio.shape)}, and this audio VAE "
                           f"takes [batch, {channels}, length, mel bins].",
                           "a LATENT made by this LTX-2 model (the same folder).")
    host.load_to_device([audio_vae, vocoder])
    with torch.no_grad():
        mel = audio_vae.module.decode(audio.to(device=audio_vae.device, dtype=audio_vae.dtype), return_dict=False)[0]
        waveform = vocoder.module(mel.to(device=vocoder.device, dtype=vocoder.dtype))
    return {"waveform": waveform.float().cpu(), "sample_rate": int(vocoder.module.config.output_sampling_rate)}


def upsample_latent(upsampler: Any, vae: DVVAE, latent: dict[str, Any], adain_factor: float,
                    tone_map_compression_ratio: float) -> dict[str, Any]:
    """DVLTXUpsampleLatent on an LTX-2 latent: LTX2LatentUpsamplePipeline with output_type="latent", as the diffusers
    guide's two-stage recipe calls it. The LATENT is already in the VAE's own scale, which the upscaler works in
    (latents_normalized=False); the sound latents pass on unchanged, as the guide hands stage 1's to stage 2."""
    from diffusers.pipelines.ltx2 import LTX2LatentUpsamplePipeline

    _check_vae(vae)
    samples = latent["samples"]
    channels = int(vae.module.config.latent_channels)
    takes = int(upsampler.module.config.in_channels)
    if takes != channels:
        raise DVInputError("latent_upsampler", f"this upscaler works on {takes}-channel latents, and the VAE's "
                           f"latents have {channels} channels (another VAE's upscaler).",
                           f"an upscaler made for this VAE ({channels} latent channels: the same LTX-2 release).")
    if int(samples.shape[1]) != channels:
        raise DVInputError("samples", f"the latent has {int(samples.shape[1])} channels, the VAE's {channels}.",
                           "a latent from DVSampler with an LTX-2 model of the same release as the VAE.")
    host.load_to_device([upsampler.managed, vae.managed])
    pipe = assemble(LTX2LatentUpsamplePipeline, vae=vae.module, latent_upsampler=upsampler.module)
    pipe.set_progress_bar_config(disable=True)
    out = pipe(latents=samples.to(upsampler.managed.device), adain_factor=adain_factor,
               tone_map_compression_ratio=tone_map_compression_ratio, output_type="latent").frames
    return {**latent, "samples": out.to(host.intermediate_device())}
