"""Kandinsky 5 (Kandinsky Lab): text- and image-to-video with a Qwen2.5-VL and a CLIP text encoder, a
flow-matching DiT and the HunyuanVideo causal 3D VAE.

Kandinsky5T2VPipeline samples from text; Kandinsky5I2VPipeline puts the image's latents in the first latent frame
of a DiT with visual conditioning (`visual_cond`), keeps that frame fixed while sampling and re-normalises the
first four latent frames against the following ones at the end. Both decode as HunyuanVideoPipeline does.

The pipelines crop the prompt template's first 128 tokens from the Qwen hidden states: the count of the released
Qwen2.5 tokenizer (measured). The crop is counted on the loaded tokenizer instead, which gives the same 128 for
the released models and crops exactly the template with any other tokenizer.
"""

from __future__ import annotations

import logging
from typing import Any

from .. import host
from ..errors import DVInputError
from ..model_loaders.components import DVVAE, DVConditioning, DVModel, DVSchedulerSpec, DVTextEncoder
from ..samplers import decode as decode_util
from ..samplers.pipeline import SampleInputs, SampleParams, assemble, denoisers_loaded, run_denoise
from ..samplers.validate import check_common, require_conditioning
from .spec import Family, FrameRule, LatentGeometry

FAMILY = Family(
    id="kandinsky5",
    label="Kandinsky 5",
    pipeline_classes={"t2v": "Kandinsky5T2VPipeline", "i2v": "Kandinsky5I2VPipeline"},
    model_classes=("Kandinsky5Transformer3DModel",),
    vae_classes=("AutoencoderKLHunyuanVideo",),
    # The Qwen2.5-VL (text_encoder) is the one DVTextEncoderLoader is pointed at; the CLIP (text_encoder_2) comes
    # with it from the same folder.
    text_encoder_classes=("Qwen2_5_VLForConditionalGeneration",),
    # The HunyuanVideo VAE's 4x temporal compression; the pipelines round other counts down without a word.
    frame_rule=FrameRule(multiple=4, offset=1),
    size_multiple=16,  # VAE 8 x patch 2
    pipeline_size_multiple=16,  # check_inputs: "`height` and `width` have to be divisible by 16"
    geometry=LatentGeometry(spatial=8, temporal=4, channels=16, scaling_factor=0.476986),
    order=35,
    comfy_latent_format="HunyuanVideo",  # the same VAE, so the same latents and preview factors
    flow_matching=True,
    # diffusers' Kandinsky 5.0 Video guide (Lite): 768x512, 121 frames ("~5 seconds at 24fps"), 50 steps,
    # guidance 5.0; max_sequence_length is the pipelines' default.
    defaults={"num_frames": 121, "fps": 24, "steps": 50, "guidance_scale": 5.0, "width": 768, "height": 512,
              "max_sequence_length": 512},
    # The guide (api/pipelines/kandinsky5_video.md) loads every component in one dtype:
    # `Kandinsky5T2VPipeline.from_pretrained(model_id, dtype=torch.bfloat16)`, so no role gets one of its own.
    component_dtypes={},
    notes="Image-to-video needs 17 frames or more: the pipeline re-normalises the first four latent frames "
    "against the ones after them. The nocfg and distilled releases are run with guidance_scale 1 (the guide's "
    "warning); an empty negative prompt is encoded as empty, as the pipeline does when given one.",
)

log = logging.getLogger("DiffusersVideo")

# Kandinsky-5's inference script samples with FlowMatch Euler at scheduler_scale (shift) 5.0; the released
# folders carry their own scheduler, which takes precedence.
DEFAULT_SCHEDULER = DVSchedulerSpec.from_config_dict(
    "FlowMatchEulerDiscreteScheduler", {"num_train_timesteps": 1000, "shift": 5.0, "use_dynamic_shifting": False},
    "Kandinsky 5 default",
)
CLIP_TOKENS = 77  # the pipeline encodes the pooled CLIP prompt at 77 tokens
MAX_SEQUENCE_LENGTH = 1024  # check_inputs refuses more
# Image-to-video re-normalises the first 4 latent frames against up to 5 after them (normalize_first_frame);
# with fewer than 5 latent frames there is nothing after them and the video turns to NaN.
I2V_MIN_LATENT_FRAMES = 5
EMBED_KEYS = ("prompt_embeds_qwen", "prompt_embeds_clip", "prompt_cu_seqlens")


def _pipeline_class(task: str = "t2v"):
    import diffusers

    return getattr(diffusers, FAMILY.pipeline_classes[task])


def prompt_template() -> str:
    """The pipelines' prompt template (set in their __init__): a system prompt, then the user's text in `{}`."""
    return assemble(_pipeline_class()).prompt_template


def template_crop(tokenizer) -> int:
    """The tokens of the template before the prompt (the system prompt and the user header), counted on this
    tokenizer (a Qwen2VLProcessor's own tokenizer, or a bare Qwen2 tokenizer)."""
    template = prompt_template()
    text_tokenizer = getattr(tokenizer, "tokenizer", tokenizer)
    return len(text_tokenizer(template[:template.index("{}")]).input_ids)


def _text_encoders(te: DVTextEncoder):
    """(Qwen, its tokenizer, CLIP managed module or module, CLIP tokenizer), each checked."""
    if te.tokenizer is None:
        raise DVInputError("text_encoder", "this text encoder came without its tokenizer.",
                           "load it from a diffusers folder that has a tokenizer subfolder.")
    config = te.module.config
    if getattr(config, "model_type", "") != "qwen2_5_vl":
        raise DVInputError("text_encoder", f"{FAMILY.label} prompts start with its Qwen2.5-VL text encoder, and "
                           f"this is a {type(te.module).__name__}.",
                           "the text_encoder subfolder of a Kandinsky 5 folder (not text_encoder_2), or "
                           "DVPipelineLoader's text_encoder output.")
    clip, clip_tokenizer = te.extras.get("text_encoder_2"), te.extras.get("tokenizer_2")
    if clip is None or clip_tokenizer is None:
        raise DVInputError("text_encoder", f"{FAMILY.label} also needs its CLIP text encoder and tokenizer "
                           "(text_encoder_2, tokenizer_2), which did not come with this one.",
                           "DVPipelineLoader, or DVTextEncoderLoader on the text_encoder subfolder of a folder that "
                           "has text_encoder_2 and tokenizer_2.")
    return te.module, te.tokenizer, clip, clip_tokenizer


def _check_lengths(tokenizer, clip_tokenizer, crop: int, texts: dict[str, str], limit: int,
                   truncate: bool) -> list[str]:
    """State (or refuse) prompts that either encoder cuts, instead of cutting them silently: the Qwen keeps
    `limit` tokens after the template (its closing <|im_end|> included), the CLIP 77."""
    from diffusers.pipelines.kandinsky5.pipeline_kandinsky import prompt_clean

    template = prompt_template()
    text_tokenizer = getattr(tokenizer, "tokenizer", tokenizer)
    notes = []
    for input_name, text in texts.items():
        cleaned = prompt_clean(text)  # what the pipeline encodes
        qwen_tokens = len(text_tokenizer(template.format(cleaned)).input_ids) - crop
        clip_tokens = len(clip_tokenizer(cleaned).input_ids)
        for encoder, count, most in (("Qwen2.5-VL", qwen_tokens, limit), ("CLIP", clip_tokens, CLIP_TOKENS)):
            if count <= most:
                continue
            if not truncate:
                raise DVInputError(input_name, f"{count} tokens, over the {encoder} text encoder's {most}.",
                                   f"at most {most} tokens, or turn truncate_long_prompt on.")
            message = (f"DVTextEncode: input '{input_name}': {count} tokens, over the {encoder} text encoder's "
                       f"{most}; the end is cut off.")
            log.warning(message)
            notes.append(message)
    return notes


def encode(te: DVTextEncoder, prompt: str, negative_prompt: str, max_sequence_length: int,
           truncate: bool) -> DVConditioning:
    if max_sequence_length > MAX_SEQUENCE_LENGTH:
        raise DVInputError("max_sequence_length", f"{max_sequence_length} tokens; the {FAMILY.label} pipeline takes "
                           f"at most {MAX_SEQUENCE_LENGTH}.", f"1 to {MAX_SEQUENCE_LENGTH} (the guide: 512).")
    qwen, tokenizer, clip, clip_tokenizer = _text_encoders(te)
    crop = template_crop(tokenizer)
    notes = _check_lengths(tokenizer, clip_tokenizer, crop, {"prompt": prompt, "negative_prompt": negative_prompt},
                           max_sequence_length, truncate)
    managed = [te.managed] + ([clip] if isinstance(clip, host.ManagedModule) else [])
    host.load_to_device(managed)
    clip_module = clip.module if isinstance(clip, host.ManagedModule) else clip
    pipe = assemble(_pipeline_class(), tokenizer=tokenizer, text_encoder=qwen, tokenizer_2=clip_tokenizer,
                    text_encoder_2=clip_module)
    pipe.prompt_template_encode_start_idx = crop
    embeds: dict[str, Any] = {}
    for prefix, text in (("", prompt), ("negative_", negative_prompt)):
        values = pipe.encode_prompt(text, max_sequence_length=max_sequence_length, device=te.managed.device)
        embeds.update({prefix + key: value for key, value in zip(EMBED_KEYS, values, strict=True)})
    return DVConditioning(FAMILY, prompt, negative_prompt, embeds, notes)


def takes_an_image(model: DVModel) -> bool:
    """Image-to-video DiTs take the noise with the first frame's latents and a mask beside it (visual_cond)."""
    return bool(getattr(model.module.config, "visual_cond", False))


def _check_task(model: DVModel, inputs: SampleInputs, params: SampleParams) -> str:
    label = model.family.label
    if inputs.video is not None:
        raise DVInputError("video", f"{label} takes no video.", "disconnect 'video'.")
    if inputs.image is None:
        if takes_an_image(model):
            raise DVInputError("image", f"'{model.source}' is a {label} image-to-video model, and no image is "
                               "wired in.", "the first frame (an IMAGE) into 'image'.")
        return "t2v"
    if not takes_an_image(model):
        raise DVInputError("image", f"'{model.source}' is a {label} text-to-video model; it cannot start from an "
                           "image.", f"a {label} image-to-video model (Kandinsky-5.0-I2V), or disconnect 'image'.")
    if inputs.vae is None:
        raise DVInputError("vae", f"{label} image-to-video encodes the image with its VAE, and none is wired in.",
                           "the VAE from the same folder.")
    temporal = model.geometry.temporal
    least = temporal * (I2V_MIN_LATENT_FRAMES - 1) + 1
    if params.num_frames < least:
        raise DVInputError("num_frames", f"{label} image-to-video re-normalises the first {I2V_MIN_LATENT_FRAMES - 1} "
                           f"latent frames against the ones after them, so {params.num_frames} frames are too few.",
                           f"{least} frames or more ({model.family.frame_rule.describe()}).")
    return "i2v"


def _check_vae(model: DVModel, vae: DVVAE | None) -> None:
    if vae is None:
        return
    channels = int(model.module.config.out_visual_dim)
    vae_channels = getattr(vae.module.config, "latent_channels", None)
    if vae_channels != channels:
        raise DVInputError("vae", f"the image is encoded to the model's latents, and this {vae.family.label} VAE "
                           f"has {vae_channels or '?'} latent channels where the model has {channels}.",
                           "the HunyuanVideo VAE (AutoencoderKLHunyuanVideo) from the same Kandinsky 5 folder.")


def _check_text_fits(model: DVModel, cond: DVConditioning) -> None:
    config = model.module.config
    for key, size, encoder in (("prompt_embeds_qwen", int(config.in_text_dim), "Qwen2.5-VL"),
                               ("prompt_embeds_clip", int(config.in_text_dim2), "CLIP")):
        width = int(cond.embeds[key].shape[-1])
        if width != size:
            raise DVInputError("conditioning", f"the {encoder} text embeddings have width {width}, but this "
                               f"transformer expects {size}.", "the text encoders from the same Kandinsky 5 folder.")


def sample(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
           inputs: SampleInputs) -> dict[str, Any]:
    cond = require_conditioning(model, inputs)
    check_common(model, cond, params, model.geometry.spatial * int(model.module.config.patch_size[1]))
    task = _check_task(model, inputs, params)
    _check_vae(model, inputs.vae)
    _check_text_fits(model, cond)
    device, dtype = model.managed.device, model.managed.dtype
    call_kwargs: dict[str, Any] = {
        "height": params.height, "width": params.width, "num_frames": params.num_frames,
        "num_inference_steps": params.num_inference_steps, "guidance_scale": params.guidance_scale,
    }
    # The pipeline runs the negative pass only above guidance 1, and then only with the negative embeddings.
    for prefix in ("", "negative_") if params.guidance_scale > 1.0 else ("",):
        for key in EMBED_KEYS:
            value = cond.embeds[prefix + key].to(device=device)
            call_kwargs[prefix + key] = value if key == "prompt_cu_seqlens" else value.to(dtype=dtype)
    others = []
    if task == "i2v":
        from ..samplers.image_input import pipeline_image

        others = [inputs.vae.managed]
        pipe = assemble(_pipeline_class("i2v"), model.pipeline_config, transformer=model.module,
                        vae=inputs.vae.module, scheduler=scheduler.create())
        call_kwargs["image"] = pipeline_image("image", inputs.image, params.height, params.width, inputs.options)
    else:
        pipe = assemble(_pipeline_class(), model.pipeline_config, transformer=model.module,
                        scheduler=scheduler.create())
        # Geometry the pipeline reads from the VAE, which sampling does not need.
        pipe.vae_scale_factor_spatial = model.geometry.spatial
        pipe.vae_scale_factor_temporal = model.geometry.temporal
    channels = int(model.module.config.in_visual_dim)

    def to_preview_layout(latents):
        # The pipeline keeps latents as [B, F, H, W, C] with the image condition and its mask after the channels.
        return latents[..., :channels].permute(0, 4, 1, 2, 3)

    with denoisers_loaded(model, *others):
        latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, to_preview_layout)
    return {"samples": latents.permute(0, 4, 1, 2, 3).contiguous().to(host.intermediate_device()),
            "dv_family": FAMILY.id, "dv_num_frames": params.num_frames}


def decode(vae: DVVAE, latent: dict[str, Any], settings: decode_util.DecodeSettings):
    """As the Kandinsky 5 pipelines do after sampling, which is what HunyuanVideoPipeline does with the same VAE:
    divide by the scaling factor, then the VAE's own framewise decode (optionally chunked or tiled), then the
    VideoProcessor."""
    from .hunyuanvideo import decode as hunyuanvideo_decode

    return hunyuanvideo_decode(vae, latent, settings)
