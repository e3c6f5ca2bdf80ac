"""CogVideoX (THUDM): text-, image- and video-to-video with a T5 encoder, a DiT and a causal 3D VAE; and
CogVideoX-Fun control (alibaba-pai), whose transformer follows a control video (pose, depth, edges...).

CogVideoX glue: how DVTextEncode, DVSampler and DVVAEDecode drive diffusers' CogVideoX pipeline and VAE."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from .. import host
from ..errors import DVInputError
from ..model_loaders.components import DVVAE, DVConditioning, DVModel, DVSchedulerSpec, DVTextEncoder
from ..samplers import decode as decode_util
from ..samplers.image_input import pipeline_frames, pipeline_image
from ..samplers.pipeline import SampleInputs, SampleParams, assemble, run_denoise
from ..samplers.validate import check_common, check_text_width, require_conditioning
from .spec import Family, FrameRule, LatentGeometry, OptionSpec

FAMILY = Family(
    id="cogvideox",
    label="CogVideoX",
    pipeline_classes={
        "t2v": "CogVideoXPipeline",
        "i2v": "CogVideoXImageToVideoPipeline",
        "v2v": "CogVideoXVideoToVideoPipeline",
        "control": "CogVideoXFunControlPipeline",  # CogVideoX-Fun control: the DVSampler's 'video' guides it
    },
    model_classes=("CogVideoXTransformer3DModel",),
    vae_classes=("AutoencoderKLCogVideoX",),
    text_encoder_classes=("T5EncoderModel",),
    frame_rule=FrameRule(multiple=4, offset=1),
    size_multiple=16,
    geometry=LatentGeometry(spatial=8, temporal=4, channels=16, scaling_factor=1.15258426),
    order=10,
    batched_cfg=True,
    hidden_layout="BFCHW",  # CogVideoX's DiT takes [B, F, C, H, W]
    schedulers={"CogVideoX DDIM": "CogVideoXDDIMScheduler", "CogVideoX DPM": "CogVideoXDPMScheduler"},
    options=(
        OptionSpec("use_dynamic_cfg", "BOOLEAN", False, "Raise guidance over the steps (CogVideoX's cosine "
                   "schedule); recommended with the CogVideoX DPM scheduler."),
        OptionSpec("strength", "FLOAT", 0.8, "Video-to-video only: how much of the input video is repainted "
                   "(0 keeps it, 1 ignores it).", 0.0, 1.0, 0.01),
    ),
    options_node="DVCogVideoXOptions",
    comfy_latent_format=None,  # ComfyUI 0.3.64 has no CogVideoX latent format: no previews
    defaults={
        "num_frames": 49,
        "fps": 8,
        "steps": 50,
        "guidance_scale": 6.0,
        "width": 720,
        "height": 480,
        "max_sequence_length": 226,
    },
    # No component_dtypes: the device default (bf16 where supported) for every component. The diffusers CogVideoX
    # guide (api/pipelines/cogvideox.md) loads CogVideoX-5b in `dtype=torch.bfloat16` and CogVideoX-2b in
    # `dtype=torch.float16`; the model cards list "BF16 (Recommended), FP16, FP32" for 5B and "FP16*
    # (Recommended), BF16, FP32" for 2B, so both run in either. Pick dtype fp16 for 2b to match its card.
    notes="CogVideoX 1.5 pads an odd number of latent frames to its temporal patch size; the padding is "
    "generated and dropped before decoding.",
)
COGVIDEOX = FAMILY

log = logging.getLogger("DiffusersVideo")

# CogVideoX-2b's own scheduler config: used when a model comes without its folder's scheduler.
DEFAULT_SCHEDULER = DVSchedulerSpec.from_config_dict(
    "CogVideoXDDIMScheduler",
    {
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "beta_start": 0.00085,
        "clip_sample": False,
        "clip_sample_range": 1.0,
        "num_train_timesteps": 1000,
        "prediction_type": "v_prediction",
        "rescale_betas_zero_snr": True,
        "sample_max_value": 1.0,
        "set_alpha_to_one": True,
        "snr_shift_scale": 3.0,
        "steps_offset": 0,
        "timestep_spacing": "trailing",
        "trained_betas": None,
    },
    "CogVideoX-2b default",
)


def _pipeline(task: str = "t2v", **components: Any):
    import diffusers

    return assemble(getattr(diffusers, COGVIDEOX.pipeline_classes[task]), **components)


# ------------------------------------------------------------------------------------------- encode


def encode(te: DVTextEncoder, prompt: str, negative_prompt: str, max_sequence_length: int,
           truncate: bool) -> DVConditioning:
    if te.tokenizer is None:
        raise DVInputError("text_encoder", "this text encoder came without its tokenizer.",
                           "load it from a diffusers folder that has a tokenizer subfolder.")
    notes = []
    for input_name, text in (("prompt", prompt), ("negative_prompt", negative_prompt)):
        # T5 adds one end-of-sequence token; the pipeline pads/truncates to max_sequence_length.
        n_tokens = len(te.tokenizer(text, add_special_tokens=True).input_ids)
        if n_tokens > max_sequence_length:
            message = (f"DVTextEncode: input '{input_name}': {n_tokens} tokens, over max_sequence_length "
                       f"{max_sequence_length}; the end of the text is cut off.")
            if not truncate:
                raise DVInputError(input_name, f"{n_tokens} tokens, over max_sequence_length "
                                   f"{max_sequence_length}.", f"at most {max_sequence_length} tokens, or turn "
                                   "truncate_long_prompt on to cut the end off.")
            log.warning(message)
            notes.append(message)
    host.load_to_device([te.managed])
    pipe = _pipeline(tokenizer=te.tokenizer, text_encoder=te.module)
    positive, negative = pipe.encode_prompt(
        prompt,
        negative_prompt,
        do_classifier_free_guidance=True,
        max_sequence_length=max_sequence_length,
        device=te.managed.device,
    )
    embeds = {"prompt_embeds": positive, "negative_prompt_embeds": negative}
    return DVConditioning(COGVIDEOX, prompt, negative_prompt, embeds, notes)


# ------------------------------------------------------------------------------------------- sample


def size_multiple(model: DVModel) -> int:
    return model.geometry.spatial * int(model.module.config.patch_size)


def _doubled_input(model: DVModel) -> bool:
    config = model.module.config
    return int(config.in_channels) == 2 * int(config.out_channels)


def _folder_pipeline_class(model: DVModel) -> str:
    """The `_class_name` of the model_index.json of the diffusers folder the model came from (the folder itself,
    or the parent of a transformer subfolder loaded alone); "" when there is none (single files)."""
    path = host.resolve_in_folder("diffusers", model.source) if model.source else None
    if not path:
        return ""
    for folder in (path, os.path.dirname(path)):
        index = os.path.join(folder, "model_index.json")
        if os.path.isfile(index):
            try:
                with open(index, encoding="utf-8") as f:
                    return str(json.load(f).get("_class_name", ""))
            except (OSError, ValueError):
                return ""
    return ""


def is_fun_control_model(model: DVModel) -> bool:
    """CogVideoX-Fun control takes the control video's latents beside the noise (twice the channels, as the
    I2V model does with its image): told apart from I2V by its folder's pipeline class."""
    return _doubled_input(model) and _folder_pipeline_class(model) == COGVIDEOX.pipeline_classes["control"]


def is_image_to_video_model(model: DVModel) -> bool:
    """CogVideoX-5b-I2V's transformer takes the image latents beside the noise: twice the channels."""
    return _doubled_input(model) and not is_fun_control_model(model)


STRENGTH_DEFAULT = 0.8  # the options widget's default: saved workflows carry it whatever the task


def _check_strength_applies(task: str, inputs: SampleInputs) -> None:
    """strength acts only on video-to-video: a set value with no video wired would silently do nothing."""
    if task == "v2v" or "strength" not in (inputs.options or {}):
        return
    strength = float(inputs.option("strength", STRENGTH_DEFAULT))
    if task == "control":
        if strength != STRENGTH_DEFAULT:
            raise DVInputError("options", f"the options set a video-to-video strength of {strength}, but a "
                               "CogVideoX-Fun control model follows its control video rather than repainting it.",
                               f"strength back at its default {STRENGTH_DEFAULT}.")
        return
    if strength != STRENGTH_DEFAULT:
        raise DVInputError("options", f"the options set a video-to-video strength of {strength}, but no video is "
                           "wired in, so it cannot apply.",
                           f"the input frames into 'video', or strength back at its default {STRENGTH_DEFAULT} "
                           f"for {'image' if task == 'i2v' else 'text'}-to-video.")
    log.warning("DVSampler: the options' strength (%s) acts on video-to-video only; no video is wired in, so this "
                "%s-to-video run ignores it.", strength, "image" if task == "i2v" else "text")


def check_inputs(model: DVModel, params: SampleParams,
                 inputs: SampleInputs) -> tuple[str, DVConditioning]:
    """Validate a run and tell which task it is: "t2v", "i2v" (an image wired), "v2v" (a video wired) or
    "control" (a CogVideoX-Fun control model, its control video wired into 'video')."""
    if is_fun_control_model(model):
        return _check_control_inputs(model, params, inputs)
    if inputs.image is not None and inputs.video is not None:
        raise DVInputError("video", "both an image and a video are wired in.",
                           "an image for image-to-video, or a video for video-to-video.")
    task = "v2v" if inputs.video is not None else "i2v" if inputs.image is not None else "t2v"
    if task == "i2v" and not is_image_to_video_model(model):
        raise DVInputError("image", f"'{model.source}' is a text-to-video CogVideoX; it cannot start from an "
                           "image.", "an image-to-video model (e.g. CogVideoX-5b-I2V), or disconnect 'image'.")
    if task != "i2v" and is_image_to_video_model(model):
        raise DVInputError("image", f"'{model.source}' is an image-to-video CogVideoX and needs a first frame.",
                           "an IMAGE wired into 'image' (e.g. from Load Image).")
    if task != "t2v" and inputs.vae is None:
        raise DVInputError("vae", f"CogVideoX {'image' if task == 'i2v' else 'video'}-to-video encodes its "
                           "input with the VAE, and none is wired in.", "the VAE from the same folder.")
    cond = require_conditioning(model, inputs)
    check_common(model, cond, params, size_multiple(model))
    config = model.module.config
    if config.use_learned_positional_embeddings:
        # CogVideoX-5b-I2V learned its positional embeddings at one resolution only.
        size = (config.sample_width * model.geometry.spatial, config.sample_height * model.geometry.spatial)
        if (params.width, params.height) != size:
            raise DVInputError("width", f"this model learned its positions at {size[0]}x{size[1]} only; "
                               f"{params.width}x{params.height} is not possible.",
                               f"width {size[0]}, height {size[1]}.")
    _check_strength_applies(task, inputs)
    _check_text(model, cond)
    if task == "v2v":
        strength = float(inputs.option("strength", STRENGTH_DEFAULT))
        if int(params.num_inference_steps * strength) < 1:
            # The pipeline keeps int(steps * strength) steps; none left would return an empty video.
            raise DVInputError("options", f"strength {strength} of {params.num_inference_steps} steps leaves no "
                               "denoising step.", f"strength >= {1 / params.num_inference_steps:.2f} or more steps.")
        frames = inputs.video.shape[0]
        if frames < params.num_frames:
            raise DVInputError("video", f"{frames} frames wired in, fewer than num_frames {params.num_frames}.",
                               f"num_frames at most {frames} (4k+1), or a longer video.")
    return task, cond


def _check_text(model: DVModel, cond: DVConditioning) -> None:
    config = model.module.config
    text_dim = int(config.text_embed_dim)
    check_text_width(model, cond, text_dim, "text encoder")
    seq = int(cond.embeds["prompt_embeds"].shape[1])
    max_seq = int(config.max_text_seq_length)
    # Positions added to the text tokens (sinusoidal without rotary embeddings, or learned, as CogVideoX-5b-I2V
    # has) are laid out for exactly max_text_seq_length of them.
    fixed_positions = config.use_rotary_positional_embeddings is False or config.use_learned_positional_embeddings
    if fixed_positions and seq != max_seq:
        raise DVInputError("conditioning", f"the prompt was encoded to {seq} tokens, but this transformer "
                           f"was trained with {max_seq}.", f"max_sequence_length {max_seq} in DVTextEncode.")


def _check_control_inputs(model: DVModel, params: SampleParams, inputs: SampleInputs) -> tuple[str, DVConditioning]:
    """CogVideoX-Fun control: one control frame per output frame in 'video', no image, a VAE to encode them."""
    if inputs.image is not None:
        raise DVInputError("image", f"'{model.source}' is a CogVideoX-Fun control model; it follows a control video "
                           "and takes no image.", "disconnect 'image'; wire the control frames into 'video'.")
    if inputs.video is None:
        raise DVInputError("video", f"'{model.source}' is a CogVideoX-Fun control model and needs a control video.",
                           f"{params.num_frames} control frames (pose, depth, edges...) as an IMAGE wired into "
                           "'video'.")
    frames = int(inputs.video.shape[0])
    if frames != params.num_frames:
        raise DVInputError("video", f"{frames} control frames wired in, but num_frames is {params.num_frames}; "
                           "CogVideoX-Fun control takes one control frame per output frame.",
                           f"exactly {params.num_frames} control frames (or num_frames {frames} if that is 4k+1).")
    if inputs.vae is None:
        raise DVInputError("vae", "CogVideoX-Fun control encodes its control video with the VAE, and none is wired "
                           "in.", "the VAE from the same folder.")
    cond = require_conditioning(model, inputs)
    check_common(model, cond, params, size_multiple(model))
    config = model.module.config
    latent_frames = (params.num_frames - 1) // model.geometry.temporal + 1
    patch_t = config.patch_size_t
    if patch_t and latent_frames % patch_t:
        # Unlike the other tasks, the control pipeline cannot pad: its control latents are the video's own.
        raise DVInputError("num_frames", f"{params.num_frames} frames are {latent_frames} latent frames, not a "
                           f"multiple of this transformer's temporal patch {patch_t}.",
                           f"num_frames with a multiple of {patch_t} latent frames.")
    if config.use_learned_positional_embeddings:
        size = (config.sample_width * model.geometry.spatial, config.sample_height * model.geometry.spatial)
        if (params.width, params.height) != size:
            raise DVInputError("width", f"this model learned its positions at {size[0]}x{size[1]} only; "
                               f"{params.width}x{params.height} is not possible.",
                               f"width {size[0]}, height {size[1]}.")
    _check_strength_applies("control", inputs)
    _check_text(model, cond)
    return "control", cond



def sample(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
           inputs: SampleInputs) -> dict[str, Any]:
    task, cond = check_inputs(model, params, inputs)
    latent_frames = (params.num_frames - 1) // model.geometry.temporal + 1
    patch_t = model.module.config.patch_size_t
    if patch_t and latent_frames % patch_t:
        padded = latent_frames + patch_t - latent_frames % patch_t
        log.info("DVSampler: CogVideoX 1.5 works on multiples of %d latent frames: %d latent frames are generated "
                 "(%d video frames) and the padding is dropped before decoding.", patch_t, padded,
                 (padded - 1) * model.geometry.temporal + 1)
    elif latent_frames % 2 == 0:
        log.info("DVSampler: %d frames are %d latent frames; CogVideoX's VAE decodes an even number of latent frames "
                 "to %d frames (as diffusers does).", params.num_frames, latent_frames, 4 * latent_frames)

    managed = [model.managed] + ([inputs.vae.managed] if task != "t2v" else [])
    host.load_to_device(managed)
    components: dict[str, Any] = {"transformer": model.module, "scheduler": scheduler.create()}
    if task != "t2v":
        components["vae"] = inputs.vae.module
    pipe = _pipeline(task, **components)
    # The pipeline reads the VAE's geometry at construction; text-to-video needs no VAE to sample, so it
    # is given the loaded model's geometry instead of the VAE itself.
    pipe.vae_scale_factor_spatial = model.geometry.spatial
    pipe.vae_scale_factor_temporal = model.geometry.temporal
    pipe.vae_scaling_factor_image = model.geometry.scaling_factor

    dtype = model.managed.dtype
    device = model.managed.device
    call_kwargs: dict[str, Any] = {
        "prompt_embeds": cond.embeds["prompt_embeds"].to(device=device, dtype=dtype),
        "negative_prompt_embeds": cond.embeds["negative_prompt_embeds"].to(device=device, dtype=dtype),
        "height": params.height,
        "width": params.width,
        "num_inference_steps": params.num_inference_steps,
        "guidance_scale": params.guidance_scale,
        "use_dynamic_cfg": bool(inputs.option("use_dynamic_cfg", False)),
    }
    if task == "v2v":
        call_kwargs["video"] = pipeline_frames("video", inputs.video, params.height, params.width, inputs.options,
                                               params.num_frames)
        call_kwargs["strength"] = float(inputs.option("strength", 0.8))
    elif task == "control":  # the pipeline takes num_frames from the control video
        call_kwargs["control_video"] = pipeline_frames("video", inputs.video, params.height, params.width,
                                                       inputs.options, params.num_frames, same_aspect=True)
    else:
        call_kwargs["num_frames"] = params.num_frames
    if task == "i2v":
        call_kwargs["image"] = pipeline_image("image", inputs.image, params.height, params.width, inputs.options)
    latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, _to_bcfhw)
    if task not in ("v2v", "control") and patch_t and latent_frames % patch_t:
        latents = latents[:, latents.shape[1] - latent_frames:]  # the pipeline's own padding is at the front
    return {
        "samples": _to_bcfhw(latents).to(host.intermediate_device()),
        "dv_family": COGVIDEOX.id,
        "dv_num_frames": params.num_frames,
    }


def _to_bcfhw(latents):
    """CogVideoX keeps latents as [B, F, C, H, W]; ComfyUI's LATENT convention is [B, C, F, H, W]."""
    return latents.permute(0, 2, 1, 3, 4)


# ------------------------------------------------------------------------------------------- decode


def decode(vae: DVVAE, latent: dict[str, Any], settings: decode_util.DecodeSettings):
    """Decode exactly as CogVideoXPipeline.decode_latents does, with the VAE's own frame batching (its
    causal conv cache carries context across chunks) and its own spatial tiling."""
    samples = latent["samples"]
    geometry = vae.geometry
    decode_util.check_latent(vae, samples, geometry.channels)
    host.load_to_device([vae.managed])
    module = vae.module
    # Multiplying by the reciprocal, as decode_latents does, keeps the frames bit-identical to the pipeline's.
    z = 1 / geometry.scaling_factor * samples.to(device=vae.managed.device, dtype=vae.managed.dtype)

    frames_in = z.shape[2]
    chunk = settings.chunk or module.num_latent_frames_batch_size
    if chunk < frames_in and chunk % 2:
        # The temporal upsamplers treat an odd-length chunk as "first frame + pairs", so odd chunks after
        # the first would change the number of frames decoded.
        log.info("DVVAEDecode: decode_chunk_size %d rounded up to %d (CogVideoX decodes latent frames in pairs).",
                 chunk, chunk + 1)
        chunk += 1
    overrides: dict[str, Any] = {"num_latent_frames_batch_size": chunk}
    if settings.tiling and (settings.tile_sample_size or settings.tile_overlap):
        tile_px = settings.tile_sample_size or module.tile_sample_min_height
        overlap = settings.tile_overlap or module.tile_overlap_factor_height
        tile_px, tile_latent, factor = decode_util.consistent_tile(geometry.spatial, tile_px, overlap)
        overrides.update(
            tile_sample_min_height=tile_px, tile_sample_min_width=tile_px,
            tile_latent_min_height=tile_latent, tile_latent_min_width=tile_latent,
            tile_overlap_factor_height=factor, tile_overlap_factor_width=factor,
        )
    n_chunks = max(frames_in // chunk, 1)
    with decode_util.temporary_attributes(module, use_tiling=settings.tiling, **overrides):
        n_tiles = decode_util.tile_count(module, z) if settings.tiling else 1
        with decode_util.progress_per_call(module.decoder, n_chunks * n_tiles):
            video = module.decode(z).sample
    from diffusers.video_processor import VideoProcessor

    return decode_util.to_image(VideoProcessor(vae_scale_factor=geometry.spatial), video)
