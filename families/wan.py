"""Wan (Alibaba): text- and image-to-video with a UMT5 encoder, flow-matching DiTs and a causal 3D VAE.

Variants, told apart by their configs: Wan2.1 (one DiT; image-to-video adds a CLIP image encoder and a DiT
that also takes the first frame's latents), Wan2.2 A14B (two experts: `transformer` for the high-noise steps,
`transformer_2` below `boundary_ratio`; its image-to-video DiT has no CLIP input) and Wan2.2 TI2V-5B (one DiT
for text- and image-to-video on a 48-channel VAE 16x smaller in space, with per-token timesteps:
`expand_timesteps`). WanPipeline / WanImageToVideoPipeline drive all of them, given the folder's pipeline
config; the Wan VAE with its latents mean/std decodes.

Beside them: Wan2.1 first-last-frame (FLF2V: an I2V DiT with learned positions for two images' CLIP tokens; the
last frame comes through DVWanOptions' last_image), video-to-video on a Wan2.1 text-to-video DiT
(WanVideoToVideoPipeline, DVSampler's 'video' plus strength) and VACE (WanVACETransformer3DModel, Wan2.1 or
Wan2.2 A14B with two experts): a control or source video in DVSampler's 'video', a mask and reference images
through DVWanOptions, run by WanVACEPipeline. Wan2.2-Animate (WanAnimateTransformer3DModel) lives in
wan_animate.py."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .. import host
from ..errors import DVInputError
from ..model_loaders.components import DVVAE, DVConditioning, DVModel, DVSchedulerSpec, DVTextEncoder
from ..samplers import decode as decode_util
from ..samplers.clip_text import encode_t5_with_pipeline
from ..samplers.pipeline import SampleInputs, SampleParams, assemble, denoisers_loaded, run_denoise
from ..samplers.validate import check_common, check_text_width, require_conditioning
from . import wan_animate
from .spec import Family, FrameRule, LatentGeometry, OptionSpec, Variant

TI2V_CHANNELS = 48  # the Wan2.2 VAE's latent channels (z_dim), which only TI2V-5B uses


def _is_ti2v_5b(configs: Mapping[str, Any]) -> bool:
    return (bool(configs.get("pipeline", {}).get("expand_timesteps"))
            or configs.get("vae", {}).get("z_dim") == TI2V_CHANNELS
            or configs.get("denoiser", {}).get("out_channels") == TI2V_CHANNELS)


def _is_vace(configs: Mapping[str, Any]) -> bool:
    return configs.get("denoiser", {}).get("vace_layers") is not None


def _is_a14b(configs: Mapping[str, Any]) -> bool:
    return configs.get("pipeline", {}).get("boundary_ratio") is not None or configs.get("denoisers", 1) > 1


def _single_file_hub_refusal(meta: Mapping[str, Any], second_expert: bool) -> str | None:
    """diffusers' single-file detection knows no Wan2.2: it maps TI2V-5B and the A14B image-to-video experts
    onto Wan2.1 configs, and two experts need the boundary_ratio only a Wan2.2 folder has."""
    if second_expert:
        return "two experts are Wan2.2 A14B, whose config (boundary_ratio, expert layout) diffusers' Hub default " \
               "for single files does not have: it would load them as Wan2.1."
    embed = next((t for k, t in meta.items() if k.endswith("patch_embedding.weight")), None)
    has_clip_input = any("img_emb" in k or "image_embedder" in k for k in meta)
    in_channels = int(embed.shape[1]) if embed is not None and embed.dim() > 1 else 0
    if in_channels == TI2V_CHANNELS:
        return "this is Wan2.2 TI2V-5B (48 latent channels), which diffusers' single-file detection takes for a " \
               "Wan2.1 model and would load with the wrong config."
    if in_channels > 16 and not has_clip_input:
        return "this is a Wan2.2 image-to-video expert (no CLIP image input), which diffusers' single-file " \
               "detection takes for Wan2.1 image-to-video and would load with the wrong config."
    return None


FAMILY = Family(
    id="wan",
    label="Wan",
    pipeline_classes={"t2v": "WanPipeline", "i2v": "WanImageToVideoPipeline", "v2v": "WanVideoToVideoPipeline",
                      "vace": "WanVACEPipeline", "animate": "WanAnimatePipeline"},
    model_classes=("WanTransformer3DModel", "WanVACETransformer3DModel", "WanAnimateTransformer3DModel"),
    vae_classes=("AutoencoderKLWan",),
    text_encoder_classes=("UMT5EncoderModel", "T5EncoderModel"),
    frame_rule=FrameRule(multiple=4, offset=1),
    size_multiple=16,
    pipeline_size_multiple=16,
    geometry=LatentGeometry(spatial=8, temporal=4, channels=16, scaling_factor=1.0),
    order=20,
    single_file_types={"wan-t2v": "WanTransformer3DModel", "wan-i2v": "WanTransformer3DModel",
                       "wan-vace": "WanVACETransformer3DModel"},
    # diffusers names a VACE file only at the released widths (1536, 5120); at any other it fails to name it.
    single_file_model_keys={"vace_blocks.0.after_proj.bias": "wan-vace"},
    # diffusers' detection reports the Wan VAE as a Wan model type; the VAE's own key tells them apart.
    single_file_vae_keys={"decoder.middle.0.residual.0.gamma": "AutoencoderKLWan"},
    single_file_hub_refusal=_single_file_hub_refusal,
    comfy_latent_format="Wan21",
    flow_matching=True,
    defaults={"num_frames": 81, "fps": 16, "steps": 50, "guidance_scale": 5.0, "width": 832, "height": 480,
              "max_sequence_length": 512},
    variants=(
        wan_animate.VARIANT,
        Variant("wan2.2-vace-a14b", lambda configs: _is_vace(configs) and _is_a14b(configs), {
            "label": "Wan2.2 VACE A14B",
            "defaults": {"num_frames": 81, "fps": 16, "steps": 40, "guidance_scale": 4.0, "guidance_scale_2": 3.0,
                         "width": 1280, "height": 720, "max_sequence_length": 512}}),
        Variant("wan2.1-vace", _is_vace, {"label": "Wan2.1 VACE"}),
        Variant("wan2.2-ti2v-5b", _is_ti2v_5b, {
            "label": "Wan2.2 TI2V-5B", "size_multiple": 32, "comfy_latent_format": "Wan22",
            "geometry": LatentGeometry(spatial=16, temporal=4, channels=TI2V_CHANNELS, scaling_factor=1.0),
            "defaults": {"num_frames": 121, "fps": 24, "steps": 50, "guidance_scale": 5.0, "width": 1280,
                         "height": 704, "max_sequence_length": 512}}),
        Variant("wan2.2-a14b", _is_a14b, {
            "label": "Wan2.2 A14B",
            "defaults": {"num_frames": 81, "fps": 16, "steps": 40, "guidance_scale": 4.0, "guidance_scale_2": 3.0,
                         "width": 1280, "height": 720, "max_sequence_length": 512}}),
        Variant("wan2.1", lambda configs: True, {"label": "Wan2.1"}),
    ),
    options=(
        OptionSpec("guidance_scale_2", "FLOAT", -1.0, "Wan2.2 A14B: guidance of the low-noise expert "
                   "(transformer_2); -1 uses guidance_scale, as diffusers does. One-expert models take -1 only.",
                   -1.0, 30.0, 0.1),
        OptionSpec("strength", "FLOAT", 0.8, "Video-to-video only (a video into DVSampler's 'video' with a Wan2.1 "
                   "text-to-video model): how much of the input video is repainted (0 keeps it, 1 ignores it).",
                   0.0, 1.0, 0.01, optional=True),
        OptionSpec("conditioning_scale", "FLOAT", 1.0, "VACE only: how strongly the control video, mask and "
                   "reference images steer the video (the VACE blocks' output scale).", 0.0, 5.0, 0.05,
                   optional=True),
        OptionSpec("last_image", "IMAGE", None, "The last frame, with the first in DVSampler's 'image': Wan2.1 "
                   "FLF2V (which needs it) or Wan2.2 I2V A14B. Same size as the first frame."),
        OptionSpec("mask", "MASK", None, "VACE only: where to generate (white, 1) and where to keep the video wired "
                   "into DVSampler's 'video' (black, 0): inpainting, outpainting, kept frames. One mask for every "
                   "frame, or one per frame; the video's size."),
        OptionSpec("reference_images", "IMAGE", None, "VACE only: images of a subject, face or object the video "
                   "should show (each fitted into the frame on white, as diffusers does)."),
        *wan_animate.OPTIONS,
    ),
    options_node="DVWanOptions",
    # The diffusers Wan guide (api/pipelines/wan.md) loads `vae = AutoModel.from_pretrained(..., subfolder="vae",
    # dtype=torch.float32)` beside a bf16 transformer and text encoder ("Set the AutoencoderKLWan dtype to
    # torch.float32 for better decoding quality"), and in image-to-video `image_encoder =
    # CLIPVisionModel.from_pretrained(..., subfolder="image_encoder", dtype=torch.float32)`.
    component_dtypes={"vae": "fp32", "image_encoder": "fp32"},
    # The guide runs the DiT in bf16 only, and diffusers keeps its norms, rope and time embedder in fp32
    # (WanTransformer3DModel._keep_in_fp32_modules): in fp16 the activations overflow to NaN frames.
    fp16_overflows=True,
)

# Wan2.1-T2V's scheduler: UniPC on flow sigmas, shift 3.0 (the model card's value for 480p; 5.0 for 720p).
DEFAULT_SCHEDULER = DVSchedulerSpec.from_config_dict(
    "UniPCMultistepScheduler",
    {"num_train_timesteps": 1000, "prediction_type": "flow_prediction", "use_flow_sigmas": True,
     "flow_shift": 3.0, "solver_order": 2, "final_sigmas_type": "zero"},
    "Wan2.1-T2V default",
)


def _pipeline_class():
    from diffusers import WanPipeline

    return WanPipeline


def _pipeline(**components: Any):
    return assemble(_pipeline_class(), **components)


def encode(te: DVTextEncoder, prompt: str, negative_prompt: str, max_sequence_length: int,
           truncate: bool) -> DVConditioning:
    return encode_t5_with_pipeline(FAMILY, _pipeline, te, prompt, negative_prompt, max_sequence_length,
                                   truncate, ("prompt_embeds", "negative_prompt_embeds"))


# Wan2.1-I2V's image cross-attention splits the text tokens from the CLIP tokens by position, taking the last
# 512 as text (hardcoded in diffusers' WanAttnProcessor), so its prompts must be padded to exactly 512.
I2V_TEXT_TOKENS = 512
SAME_AS_GUIDANCE = -1.0  # guidance_scale_2's "not set"


def takes_an_image(model: DVModel) -> bool:
    """Image-to-video DiTs take the noise plus a frame mask and the first frame's latents (Wan2.1 I2V also
    CLIP image embeddings, Wan2.2 I2V not); TI2V-5B takes the first frame in place of the first latent frame
    (expand_timesteps), so it makes video from text and from an image."""
    config = model.module.config
    return (config.image_dim is not None or int(config.in_channels) != int(config.out_channels)
            or bool(model.pipeline_config.get("expand_timesteps")))


def takes_text_alone(model: DVModel) -> bool:
    config = model.module.config
    return int(config.in_channels) == int(config.out_channels)


def is_vace(model: DVModel) -> bool:
    """A VACE DiT (WanVACETransformer3DModel): control blocks beside the DiT's own take the control latents."""
    return getattr(model.module.config, "vace_layers", None) is not None


def is_first_last_frame(model: DVModel) -> bool:
    """Wan2.1 FLF2V: learned positions for the CLIP tokens of two images, the first and the last frame."""
    return getattr(model.module.config, "pos_embed_seq_len", None) is not None


def runs_video_to_video(model: DVModel) -> bool:
    """WanVideoToVideoPipeline drives one text-to-video DiT on the Wan2.1 VAE (no second expert, no
    expand_timesteps), so Wan2.2's releases are left out."""
    return (takes_text_alone(model) and not model.more_denoisers and not is_vace(model)
            and not model.pipeline_config.get("expand_timesteps")
            and model.pipeline_config.get("boundary_ratio") is None)


STRENGTH_DEFAULT = 0.8  # the options widget's default: saved workflows carry it whatever the task
CONDITIONING_SCALE_DEFAULT = 1.0


def _wired(inputs: SampleInputs, name: str) -> Any:
    return (inputs.options or {}).get(name)


def _check_extras_apply(model: DVModel, task: str, inputs: SampleInputs) -> None:
    """Options that act on one task only: set for another, they would silently do nothing."""
    label = model.family.label
    if task != "vace":
        for name in ("mask", "reference_images"):
            if _wired(inputs, name) is not None:
                raise DVInputError(name, f"DVWanOptions' {name} conditions a VACE model, and '{model.source}' is a "
                                   f"{label} model without VACE blocks.",
                                   f"a Wan VACE model (Wan2.1-VACE, Wan2.2-VACE-Fun-A14B), or disconnect '{name}'.")
        scale = float(inputs.option("conditioning_scale", CONDITIONING_SCALE_DEFAULT))
        if scale != CONDITIONING_SCALE_DEFAULT:
            raise DVInputError("options", f"the options set a VACE conditioning_scale of {scale}, but "
                               f"'{model.source}' is a {label} model without VACE blocks.",
                               f"conditioning_scale back at {CONDITIONING_SCALE_DEFAULT}, or a Wan VACE model.")
    if task != "v2v" and "strength" in (inputs.options or {}):
        strength = float(inputs.option("strength", STRENGTH_DEFAULT))
        if strength != STRENGTH_DEFAULT:
            what = {"t2v": "text-to-video", "i2v": "image-to-video", "vace": "VACE"}.get(task, task)
            raise DVInputError("options", f"the options set a video-to-video strength of {strength}, but this is "
                               f"a {label} {what} run, which has no video to repaint.",
                               f"a video into 'video' with a Wan2.1 text-to-video model, or strength back at its "
                               f"default {STRENGTH_DEFAULT}.")


def _check_task(model: DVModel, params: SampleParams, inputs: SampleInputs) -> str:
    """Validate the wired inputs and tell the task: "t2v", "i2v" (an image, maybe a last one), "v2v" (a video
    with a text-to-video model) or "vace" (a VACE model, with or without a video, mask or references)."""
    wan_animate.refuse_on_other_models(model, inputs)
    if is_vace(model):
        task = _check_vace(model, params, inputs)
    elif inputs.video is not None:
        task = _check_video_to_video(model, params, inputs)
    else:
        task = _check_image_task(model, inputs)
    _check_extras_apply(model, task, inputs)
    return task


def _check_image_task(model: DVModel, inputs: SampleInputs) -> str:
    label = model.family.label
    last = _wired(inputs, "last_image")
    if inputs.image is None:
        if last is not None:
            raise DVInputError("last_image", "DVWanOptions' last_image is wired, but no first frame is wired into "
                               "DVSampler's 'image'.", "the first frame (an IMAGE) into 'image', or disconnect "
                               "'last_image'.")
        if not takes_text_alone(model):
            raise DVInputError("image", f"'{model.source}' is a {label} image-to-video model, and no "
                               "image is wired in.", "the first frame (an IMAGE) into 'image'.")
        return "t2v"
    if not takes_an_image(model):
        raise DVInputError("image", f"'{model.source}' is a {label} text-to-video model; it cannot "
                           "start from an image.", "an image-to-video model (Wan2.1-I2V, Wan2.2-I2V-A14B, "
                           "Wan2.2-TI2V-5B), or disconnect 'image'.")
    config = model.module.config
    if is_first_last_frame(model) and last is None:
        raise DVInputError("last_image", f"'{model.source}' is a first-last-frame model (Wan2.1-FLF2V): it makes the "
                           "video between two frames, and no last frame is wired in.",
                           "the last frame (an IMAGE) into DVWanOptions' last_image.")
    if last is not None:
        if model.pipeline_config.get("expand_timesteps"):
            raise DVInputError("last_image", f"{label} conditions on the first frame only; WanImageToVideoPipeline "
                               "ignores a last frame for it.", "disconnect 'last_image', or a first-last-frame model "
                               "(Wan2.1-FLF2V, Wan2.2-I2V-A14B).")
        if config.image_dim is not None and not is_first_last_frame(model):
            # Its CLIP input takes one image's tokens: two images' tokens would not fit its image attention.
            raise DVInputError("last_image", f"'{model.source}' is a Wan2.1 image-to-video model, trained on a first "
                               "frame only.", "a first-last-frame model (Wan2.1-FLF2V, Wan2.2-I2V-A14B), or "
                               "disconnect 'last_image'.")
        first_size = (int(inputs.image.shape[2]), int(inputs.image.shape[1]))
        last_size = (int(last.shape[2]), int(last.shape[1]))
        if first_size != last_size:
            raise DVInputError("last_image", f"the last frame is {last_size[0]}x{last_size[1]}, the first "
                               f"{first_size[0]}x{first_size[1]}; both are fitted to the video the same way, so a "
                               "different size would shift or stretch one against the other.",
                               f"a last frame of {first_size[0]}x{first_size[1]} (resize or crop it first).")
    if inputs.vae is None:
        raise DVInputError("vae", f"{label} image-to-video encodes the image with its VAE, and none "
                           "is wired in.", "the VAE from the same folder.")
    if config.image_dim is not None:  # Wan2.1 I2V: CLIP image embeddings as well
        for role in ("image_encoder", "image_processor"):
            if role not in model.companions:
                raise DVInputError("model", f"this image-to-video model came without its {role}.",
                                   "load it with DVPipelineLoader from its diffusers folder.")
    return "i2v"


def _check_video_to_video(model: DVModel, params: SampleParams, inputs: SampleInputs) -> str:
    label = model.family.label
    if not takes_text_alone(model):
        raise DVInputError("video", f"'{model.source}' is a {label} image-to-video model, which takes no video.",
                           "a Wan2.1 text-to-video model for video-to-video, or disconnect 'video'.")
    if not runs_video_to_video(model):
        raise DVInputError("video", f"WanVideoToVideoPipeline runs one Wan2.1 text-to-video DiT; '{model.source}' "
                           f"is {label}.", "a Wan2.1 text-to-video model (e.g. Wan2.1-T2V-1.3B), or disconnect "
                           "'video'.")
    if inputs.image is not None:
        raise DVInputError("video", "both an image and a video are wired in.",
                           "an image for image-to-video (with an image-to-video model), or a video for "
                           "video-to-video.")
    if _wired(inputs, "last_image") is not None:
        raise DVInputError("last_image", "a last frame belongs to image-to-video, and this is a video-to-video run.",
                           "disconnect 'last_image'.")
    if inputs.vae is None:
        raise DVInputError("vae", f"{label} video-to-video encodes the video with its VAE, and none is wired in.",
                           "the VAE from the same folder.")
    frames = int(inputs.video.shape[0])
    if frames < params.num_frames:
        raise DVInputError("video", f"{frames} frames wired in, fewer than num_frames {params.num_frames}.",
                           f"num_frames at most {frames} (4k+1), or a longer video.")
    strength = float(inputs.option("strength", STRENGTH_DEFAULT))
    if not 0.0 <= strength <= 1.0:
        raise DVInputError("options", f"strength {strength}.", "a number from 0 to 1 on DVWanOptions.")
    if int(params.num_inference_steps * strength) < 1:
        # The pipeline keeps int(steps * strength) steps; none left would return the noised video.
        raise DVInputError("options", f"strength {strength} of {params.num_inference_steps} steps leaves no "
                           "denoising step.", f"strength >= {1 / params.num_inference_steps:.2f} or more steps.")
    return "v2v"


def _check_vace(model: DVModel, params: SampleParams, inputs: SampleInputs) -> str:
    """VACE: an optional video (control frames, or frames to keep where the mask is black), an optional mask
    that needs that video, optional reference images; no first or last frame of its own."""
    label = model.family.label
    if inputs.image is not None:
        raise DVInputError("image", f"'{model.source}' is a {label} model, which takes frames through 'video' and "
                           "images through DVWanOptions' reference_images, not a first frame.",
                           "the image into DVWanOptions' reference_images, or as the first frame of a video in "
                           "'video' with a mask that is black there; or disconnect 'image'.")
    if _wired(inputs, "last_image") is not None:
        raise DVInputError("last_image", f"'{model.source}' is a {label} model, which takes no last frame.",
                           "the frame as the last of a video in 'video' with a mask that is black there; or "
                           "disconnect 'last_image'.")
    if inputs.vae is None:
        raise DVInputError("vae", f"{label} encodes its conditioning (video, mask, references, or their blank "
                           "stand-ins) with the VAE, and none is wired in.", "the VAE from the same folder.")
    video, mask = inputs.video, _wired(inputs, "mask")
    if mask is not None and video is None:
        raise DVInputError("mask", "DVWanOptions' mask says which parts of the video in DVSampler's 'video' to keep, "
                           "and no video is wired in.", f"the {params.num_frames} source frames into 'video', or "
                           "disconnect 'mask'.")
    if video is None:
        return "vace"
    frames, height, width = int(video.shape[0]), int(video.shape[1]), int(video.shape[2])
    if frames != params.num_frames:
        raise DVInputError("video", f"{frames} frames wired in, but num_frames is {params.num_frames}; VACE takes one "
                           "control frame per output frame.", f"exactly {params.num_frames} frames (or num_frames "
                           f"{frames} if that is 4k+1).")
    from ..samplers.image_input import resize_mode

    if resize_mode(inputs.options) == "default" and (width, height) != (params.width, params.height):
        # WanVACEPipeline conditions at the frames' own size (scaled down, never up), which then misses the
        # latents of another size.
        raise DVInputError("video", f"the frames are {width}x{height}, the video {params.width}x{params.height}; "
                           "VACE conditions at the frames' own size.",
                           f"frames of {params.width}x{params.height}, or a resize_mode (fill or crop) on "
                           "DVImageInputOptions.")
    if mask is not None:
        mask_frames = 1 if mask.ndim == 2 else int(mask.shape[0])
        mask_size = (int(mask.shape[-1]), int(mask.shape[-2]))
        if mask_frames not in (1, frames):
            raise DVInputError("mask", f"the mask has {mask_frames} frames, the video {frames}.",
                               f"one mask for every frame, or {frames} masks (one per frame).")
        if mask_size != (width, height):
            raise DVInputError("mask", f"the mask is {mask_size[0]}x{mask_size[1]}, the video's frames "
                               f"{width}x{height}.", f"a mask of {width}x{height}, the size of the frames in "
                               "'video'.")
    return "vace"


def _check_vae(model: DVModel, vae: DVVAE | None, input_name: str = "vae") -> None:
    """The VAE must make the latents this DiT works on (a 5B VAE with an A14B DiT does not)."""
    if vae is None:
        return
    channels = int(model.module.config.out_channels)
    vae_channels = getattr(vae.module.config, "z_dim", None)
    if vae.family.id != FAMILY.id or vae_channels != channels:
        want = "the Wan2.2 VAE (48 channels)" if channels == TI2V_CHANNELS else "the Wan2.1 VAE (16 channels)"
        raise DVInputError(input_name, f"the image is encoded to the model's latents, and this is a "
                           f"{vae.family.label} VAE with {vae_channels or '?'} latent channels where the "
                           f"{model.family.label} model has {channels}.",
                           f"{want}, AutoencoderKLWan from the same folder.")


def _guidance_2(model: DVModel, inputs: SampleInputs) -> dict[str, float]:
    value = float(inputs.option("guidance_scale_2", SAME_AS_GUIDANCE))
    if value == SAME_AS_GUIDANCE:
        return {}
    if model.pipeline_config.get("boundary_ratio") is None or not model.more_denoisers:
        raise DVInputError("options", f"guidance_scale_2 is {value}, but this {model.family.label} model has one "
                           "expert, so there is no second guidance to set.",
                           "-1 (same as guidance_scale), or a Wan2.2 A14B model with both experts.")
    return {"guidance_scale_2": value}


def _check_experts(model: DVModel) -> None:
    ratio = model.pipeline_config.get("boundary_ratio")
    if model.more_denoisers and ratio is None:
        raise DVInputError("model", f"'{model.source}' has two experts but no boundary_ratio, so the pipeline "
                           "would run the first alone.", "the folder's model_index.json with its boundary_ratio, "
                           "or DVModelLoader's boundary_ratio.")
    if ratio is not None and not model.more_denoisers and float(ratio) < 1.0:
        raise DVInputError("model", f"'{model.source}' is a two-expert model (boundary_ratio {ratio}) with only "
                           "its high-noise expert loaded; the low-noise steps would have no model.",
                           "both experts: the folder with transformer_2, or DVModelLoader's model_2.")


def sample(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
           inputs: SampleInputs) -> dict[str, Any]:
    if wan_animate.is_animate(model):
        # What every Wan run checks, then Wan-Animate's own checks and run (wan_animate needs nothing of this module).
        _check_extras_apply(model, "animate", inputs)  # VACE's mask/references, video-to-video's strength
        _guidance_2(model, inputs)  # one expert: no guidance_scale_2
        _check_vae(model, inputs.vae)
        return wan_animate.sample(model, scheduler, params, inputs, I2V_TEXT_TOKENS)
    task = _check_task(model, params, inputs)
    _check_experts(model)
    _check_vae(model, inputs.vae)
    cond = require_conditioning(model, inputs)
    patch = model.module.config.patch_size  # (t, h, w)
    check_common(model, cond, params, model.geometry.spatial * int(patch[1]))
    check_text_width(model, cond, int(model.module.config.text_dim), "UMT5 text encoder")
    tokens = int(cond.embeds["prompt_embeds"].shape[1])
    splits_by_position = getattr(model.module.config, "added_kv_proj_dim", None) is not None
    if task == "i2v" and splits_by_position and tokens != I2V_TEXT_TOKENS:
        raise DVInputError("conditioning", f"the prompt was encoded to {tokens} tokens; {model.family.label} "
                           f"image-to-video tells text from image tokens by position and needs exactly "
                           f"{I2V_TEXT_TOKENS}.", f"max_sequence_length {I2V_TEXT_TOKENS} on DVTextEncode.")
    dtype, device = model.managed.dtype, model.managed.device
    call_kwargs = {
        "prompt_embeds": cond.embeds["prompt_embeds"].to(device=device, dtype=dtype),
        "negative_prompt_embeds": cond.embeds["negative_prompt_embeds"].to(device=device, dtype=dtype),
        "height": params.height, "width": params.width, "num_frames": params.num_frames,
        "num_inference_steps": params.num_inference_steps, "guidance_scale": params.guidance_scale,
        **_guidance_2(model, inputs),
    }
    experts = {role: managed.module for role, managed in model.denoisers().items()}
    others = []
    from ..samplers.image_input import pipeline_frames, pipeline_image

    reference_frames = 0
    if task == "i2v":
        from diffusers import WanImageToVideoPipeline

        clip = model.module.config.image_dim is not None
        others = [inputs.vae.managed, *(model.managed_companions() if clip else [])]
        pipe = assemble(WanImageToVideoPipeline, model.pipeline_config, vae=inputs.vae.module,
                        scheduler=scheduler.create(),
                        image_processor=model.companions["image_processor"] if clip else None,
                        image_encoder=model.companions["image_encoder"].module if clip else None, **experts)
        # The same PIL image for the VAE and the CLIP encoder, as a user of the pipeline would pass it.
        call_kwargs["image"] = pipeline_image("image", inputs.image, params.height, params.width, inputs.options)
        if _wired(inputs, "last_image") is not None:
            call_kwargs["last_image"] = pipeline_image("last_image", _wired(inputs, "last_image"), params.height,
                                                       params.width, inputs.options)
    elif task == "v2v":
        from diffusers import WanVideoToVideoPipeline

        others = [inputs.vae.managed]
        pipe = assemble(WanVideoToVideoPipeline, model.pipeline_config, vae=inputs.vae.module,
                        scheduler=scheduler.create(), **experts)
        del call_kwargs["num_frames"]  # the pipeline takes the length of the video it is given
        call_kwargs["video"] = pipeline_frames("video", inputs.video, params.height, params.width, inputs.options,
                                               params.num_frames)
        call_kwargs["strength"] = float(inputs.option("strength", STRENGTH_DEFAULT))
    elif task == "vace":
        from diffusers import WanVACEPipeline

        others = [inputs.vae.managed]
        pipe = assemble(WanVACEPipeline, model.pipeline_config, vae=inputs.vae.module, scheduler=scheduler.create(),
                        **experts)
        call_kwargs.update(_vace_conditions(params, inputs))
        call_kwargs["conditioning_scale"] = float(inputs.option("conditioning_scale", CONDITIONING_SCALE_DEFAULT))
        reference_frames = len(call_kwargs.get("reference_images") or ())
    else:
        pipe = assemble(_pipeline_class(), model.pipeline_config, scheduler=scheduler.create(), **experts)
        # Geometry the pipeline reads from the VAE, which sampling does not need.
        pipe.vae_scale_factor_spatial = model.geometry.spatial
        pipe.vae_scale_factor_temporal = model.geometry.temporal
    with denoisers_loaded(model, *others):
        latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, lambda x: x)
    # VACE puts one latent frame per reference image in front of the video; its pipeline drops them before
    # decoding, and so does the graph.
    latents = latents[:, :, reference_frames:]
    return {"samples": latents.to(host.intermediate_device()), "dv_family": FAMILY.id,
            "dv_num_frames": params.num_frames}


def _vace_conditions(params: SampleParams, inputs: SampleInputs) -> dict[str, Any]:
    """The video, mask and reference images as the diffusers VACE guide passes them: lists of PIL images (RGB
    frames, "L" masks, white for where to generate), fitted by the resize mode."""
    from ..samplers.image_input import check_frames, mask_to_pil, pipeline_frames, resize_mode, resized, to_pil_frames

    conditions: dict[str, Any] = {}
    if inputs.video is not None:
        conditions["video"] = pipeline_frames("video", inputs.video, params.height, params.width, inputs.options,
                                              params.num_frames)
    mask = _wired(inputs, "mask")
    if mask is not None:
        frames = mask if mask.ndim == 3 else mask[None]
        masks = [mask_to_pil(frame) for frame in frames]
        if len(masks) == 1:  # one mask for the whole clip
            masks = masks * len(conditions["video"])
        mode = resize_mode(inputs.options)
        conditions["mask"] = [m.convert("L") for m in resized(masks, params.height, params.width, mode)]
    references = _wired(inputs, "reference_images")
    if references is not None:
        check_frames("reference_images", references)
        conditions["reference_images"] = to_pil_frames(references)
    return conditions


def decode(vae: DVVAE, latent: dict[str, Any], settings: decode_util.DecodeSettings,
           denormalize: Callable[[Any], Any] | None = None):
    """As WanPipeline does after sampling: undo the latents normalisation, then the VAE, which already
    decodes one latent frame at a time with a causal cache (so there is no chunk size to choose).
    `denormalize`: a pipeline of the Wan VAE that undoes the normalisation with other float operations
    (Motif-Video multiplies by the std where Wan divides by its inverse), for frames equal to its own."""
    import torch
    from diffusers.video_processor import VideoProcessor

    if wan_animate.SEGMENT_KEY in latent:  # Wan-Animate's segments, each decoded on its own
        return wan_animate.decode_segments(vae, latent, settings,
                                           lambda v, plain, s: decode(v, plain, s, denormalize))
    module = vae.module
    config = module.config
    samples = latent["samples"]
    decode_util.check_latent(vae, samples, int(config.z_dim))
    host.load_to_device([vae.managed])
    latents = samples.to(device=vae.managed.device, dtype=vae.managed.dtype)
    if denormalize is not None:
        latents = denormalize(latents)
    else:
        mean = torch.tensor(config.latents_mean).view(1, config.z_dim, 1, 1, 1).to(latents.device, latents.dtype)
        inv_std = 1.0 / torch.tensor(config.latents_std).view(1, config.z_dim, 1, 1, 1).to(latents.device,
                                                                                             latents.dtype)
        latents = latents / inv_std + mean
    spatial = vae.geometry.spatial
    with decode_util.temporary_attributes(module, **decode_util.strided_tiling(settings, spatial)):
        calls = latents.shape[2] * decode_util.strided_tile_count(module, latents, spatial)
        with decode_util.progress_per_call(module.decoder, calls):
            video = module.decode(latents, return_dict=False)[0]
    return decode_util.to_image(VideoProcessor(vae_scale_factor=8), video)
