"""HunyuanVideo (Tencent): text-to-video with a Llama and a CLIP text encoder, a flow-matching DiT with
embedded (distilled) guidance, and a causal 3D VAE.

HunyuanVideo glue: HunyuanVideoPipeline for prompts (Llama + CLIP) and sampling, its causal VAE for decoding.

The pipeline's default prompt template says the template takes 95 tokens, which is only true of the real
Llama-3 tokenizer; prompts are encoded with the same template and its token count measured on the loaded
tokenizer, so the crop removes exactly the template with any tokenizer.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from .. import host
from ..errors import DVInputError
from ..model_loaders.components import DVVAE, DVConditioning, DVModel, DVSchedulerSpec, DVTextEncoder
from ..samplers import decode as decode_util
from ..samplers.pipeline import SampleInputs, SampleParams, assemble, run_denoise
from ..samplers.validate import check_common, require_conditioning
from .spec import Family, FrameRule, LatentGeometry, OptionSpec

FAMILY = Family(
    id="hunyuanvideo",
    label="HunyuanVideo",
    pipeline_classes={"t2v": "HunyuanVideoPipeline"},
    model_classes=("HunyuanVideoTransformer3DModel",),
    vae_classes=("AutoencoderKLHunyuanVideo",),
    # The Llama (text_encoder) is the one DVTextEncoderLoader is pointed at; the CLIP (text_encoder_2) comes
    # with it from the same folder.
    text_encoder_classes=("LlamaModel",),
    frame_rule=FrameRule(multiple=4, offset=1),
    size_multiple=16,  # VAE 8 x patch 2
    pipeline_size_multiple=16,
    geometry=LatentGeometry(spatial=8, temporal=4, channels=16, scaling_factor=0.476986),
    order=30,
    single_file_types={"hunyuan-video": "HunyuanVideoTransformer3DModel"},
    comfy_latent_format="HunyuanVideo",
    flow_matching=True,
    # diffusers' HunyuanVideo example (hunyuanvideo-community/HunyuanVideo): 512x320, 61 frames, 30 steps,
    # saved at 15 fps; guidance 6.0 is the pipeline's default embedded guidance.
    defaults={"num_frames": 61, "fps": 15, "steps": 30, "guidance_scale": 6.0, "width": 512, "height": 320,
              "max_sequence_length": 256},
    options=(
        OptionSpec("true_cfg_scale", "FLOAT", 1.0, "True classifier-free guidance with the negative prompt, one "
                   "extra model pass per step; above 1 turns it on. DVSampler's guidance_scale is HunyuanVideo's "
                   "distilled (embedded) guidance, which needs no negative prompt.", 1.0, 30.0, 0.1),
    ),
    options_node="DVHunyuanVideoOptions",
    # The diffusers HunyuanVideo guide's table of recommended inference values (api/pipelines/hunyuan_video.md):
    # "text encoder dtype | torch.float16", "transformer dtype | torch.bfloat16", "vae dtype | torch.float16".
    # The transformer takes the device default (bf16 where supported); both text encoders (Llama, CLIP) fp16.
    component_dtypes={"text_encoder": "fp16", "vae": "fp16"},
    notes="guidance_scale is the distilled guidance embedded in the model: the negative prompt is only used when "
    "DVHunyuanVideoOptions sets true_cfg_scale above 1 (twice the compute). The prompt template's token count is "
    "measured with the loaded tokenizer rather than the fixed 95 of Llama-3's.",
)

log = logging.getLogger("DiffusersVideo")

# hunyuanvideo-community/HunyuanVideo's scheduler (diffusers' conversion script): FlowMatch Euler, shift 7.
DEFAULT_SCHEDULER = DVSchedulerSpec.from_config_dict(
    "FlowMatchEulerDiscreteScheduler",
    {"num_train_timesteps": 1000, "shift": 7.0, "use_dynamic_shifting": False, "base_shift": 0.5, "max_shift": 1.15,
     "base_image_seq_len": 256, "max_image_seq_len": 4096, "invert_sigmas": False},
    "HunyuanVideo default",
)
CLIP_TOKENS = 77  # the pipeline always encodes the pooled CLIP prompt at 77 tokens


def _pipeline(**components: Any):
    from diffusers import HunyuanVideoPipeline

    return assemble(HunyuanVideoPipeline, **components)


def prompt_template(tokenizer) -> dict[str, Any]:
    """The pipeline's default template with crop_start counted on this tokenizer: the tokens (BOS included)
    before the prompt's place in the template."""
    from diffusers.pipelines.hunyuan_video.pipeline_hunyuan_video import DEFAULT_PROMPT_TEMPLATE

    template = DEFAULT_PROMPT_TEMPLATE["template"]
    before_prompt = template[:template.index("{}")]
    return {"template": template, "crop_start": len(tokenizer(before_prompt).input_ids)}


def _text_encoders(te: DVTextEncoder):
    """(Llama, its tokenizer, CLIP managed module, CLIP tokenizer), each checked."""
    if te.tokenizer is None:
        raise DVInputError("text_encoder", "this text encoder came without its tokenizer.",
                           "load it from a diffusers folder that has a tokenizer subfolder.")
    config = te.module.config
    if getattr(config, "model_type", "") != "llama":
        raise DVInputError("text_encoder", f"{FAMILY.label} prompts start with its Llama text encoder, and "
                           f"this is a {type(te.module).__name__}.",
                           "the text_encoder subfolder of a HunyuanVideo folder (not text_encoder_2), or "
                           "DVPipelineLoader's text_encoder output.")
    if int(config.num_hidden_layers) < 2:
        raise DVInputError("text_encoder", f"{FAMILY.label} reads the Llama's third-last hidden state, and "
                           f"this one has {config.num_hidden_layers} layer(s).", "a Llama with 2 or more layers.")
    clip, clip_tokenizer = te.extras.get("text_encoder_2"), te.extras.get("tokenizer_2")
    if clip is None or clip_tokenizer is None:
        raise DVInputError("text_encoder", f"{FAMILY.label} also needs its CLIP text encoder and tokenizer "
                           "(text_encoder_2, tokenizer_2), which did not come with this one.",
                           "DVPipelineLoader, or DVTextEncoderLoader on the text_encoder subfolder of a folder that "
                           "has text_encoder_2 and tokenizer_2.")
    return te.module, te.tokenizer, clip, clip_tokenizer


def _check_lengths(tokenizer, clip_tokenizer, template: dict[str, Any], texts: dict[str, str],
                   limit: int, truncate: bool) -> list[str]:
    """State (or refuse) prompts that either encoder cuts, instead of cutting them silently: the Llama keeps
    `limit` tokens after the template, the CLIP (whose pooled output also steers the video) 77."""
    notes = []
    for input_name, text in texts.items():
        llama_tokens = len(tokenizer(template["template"].format(text)).input_ids) - template["crop_start"]
        clip_tokens = len(clip_tokenizer(text).input_ids)
        for encoder, count, most in (("Llama", llama_tokens, limit), ("CLIP", clip_tokens, CLIP_TOKENS)):
            if count <= most:
                continue
            if not truncate:
                raise DVInputError(input_name, f"{count} tokens, over the {encoder} text encoder's {most}.",
                                   f"at most {most} tokens, or turn truncate_long_prompt on.")
            message = (f"DVTextEncode: input '{input_name}': {count} tokens, over the {encoder} text encoder's {most}; "
                       "the end is cut off.")
            log.warning(message)
            notes.append(message)
    return notes


def encode(te: DVTextEncoder, prompt: str, negative_prompt: str, max_sequence_length: int,
           truncate: bool) -> DVConditioning:
    llama, tokenizer, clip, clip_tokenizer = _text_encoders(te)
    template = prompt_template(tokenizer)
    notes = _check_lengths(tokenizer, clip_tokenizer, template,
                           {"prompt": prompt, "negative_prompt": negative_prompt}, max_sequence_length, truncate)
    managed = [te.managed] + ([clip] if isinstance(clip, host.ManagedModule) else [])
    host.load_to_device(managed)
    clip_module = clip.module if isinstance(clip, host.ManagedModule) else clip
    pipe = _pipeline(tokenizer=tokenizer, text_encoder=llama, tokenizer_2=clip_tokenizer, text_encoder_2=clip_module)
    embeds: dict[str, Any] = {}
    # The crop assumes the template comes first, so the Llama side is padded on the right whatever the
    # tokenizer's own setting (the released tokenizer pads right; a left-padding one would lose the prompt).
    with decode_util.temporary_attributes(tokenizer, padding_side="right"):
        for prefix, text in (("", prompt), ("negative_", negative_prompt)):
            text_embeds, pooled, mask = pipe.encode_prompt(text, prompt_template=template,
                                                           device=te.managed.device,
                                                           max_sequence_length=max_sequence_length)
            embeds.update({f"{prefix}prompt_embeds": text_embeds, f"{prefix}prompt_attention_mask": mask,
                           f"{prefix}pooled_prompt_embeds": pooled})
    return DVConditioning(FAMILY, prompt, negative_prompt, embeds, notes)


def _check_scheduler(scheduler) -> None:
    """HunyuanVideoPipeline always hands the scheduler its own sigmas (1 -> 0, evenly spaced)."""
    if "sigmas" not in inspect.signature(scheduler.set_timesteps).parameters:
        raise DVInputError("scheduler", f"{type(scheduler).__name__} cannot take the sigma schedule "
                           f"{FAMILY.label} samples with.", "'from model' (FlowMatch Euler), or DVScheduler's "
                           "FlowMatch Euler or UniPC.")


def _check_text_fits(model: DVModel, cond: DVConditioning) -> None:
    config = model.module.config
    for key, size, encoder in (("prompt_embeds", int(config.text_embed_dim), "Llama"),
                               ("pooled_prompt_embeds", int(config.pooled_projection_dim), "CLIP")):
        width = int(cond.embeds[key].shape[-1])
        if width != size:
            raise DVInputError("conditioning", f"the {encoder} text embeddings have width {width}, but this "
                               f"transformer expects {size}.", "the text encoders from the same HunyuanVideo folder.")


def sample(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
           inputs: SampleInputs) -> dict[str, Any]:
    for name in ("image", "video"):
        if getattr(inputs, name) is not None:
            raise DVInputError(name, f"{FAMILY.label} text-to-video takes no {name}.", f"disconnect '{name}'.")
    cond = require_conditioning(model, inputs)
    check_common(model, cond, params, model.geometry.spatial * int(model.module.config.patch_size))
    _check_text_fits(model, cond)
    true_cfg_scale = float(inputs.option("true_cfg_scale", 1.0))
    instance = scheduler.create()
    _check_scheduler(instance)
    host.load_to_device([model.managed])
    pipe = _pipeline(transformer=model.module, scheduler=instance)
    # Geometry the pipeline reads from the VAE, which sampling does not need.
    pipe.vae_scale_factor_spatial = model.geometry.spatial
    pipe.vae_scale_factor_temporal = model.geometry.temporal
    device = model.managed.device
    call_kwargs: dict[str, Any] = {
        "height": params.height, "width": params.width, "num_frames": params.num_frames,
        "num_inference_steps": params.num_inference_steps, "guidance_scale": params.guidance_scale,
        "true_cfg_scale": true_cfg_scale,
    }
    # The pipeline runs the negative pass only when it is given the negative embeddings and true_cfg_scale > 1.
    prefixes = ("", "negative_") if true_cfg_scale > 1 else ("",)
    for prefix in prefixes:
        for key in ("prompt_embeds", "prompt_attention_mask", "pooled_prompt_embeds"):
            call_kwargs[prefix + key] = cond.embeds[prefix + key].to(device=device)
    latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, lambda x: x)
    return {"samples": latents.to(host.intermediate_device()), "dv_family": FAMILY.id,
            "dv_num_frames": params.num_frames}


def _chunking(module, frames: int, chunk: int) -> dict[str, Any]:
    """VAE attributes for decoding `chunk` latent frames per decoder call (0 = the VAE's own default: 5,
    advancing by 3). The VAE's framewise decode overlaps each window with the last by two latent frames and
    blends one latent frame's worth of video frames, so chunked output differs a little from one pass."""
    if chunk == 0:
        return {}
    if chunk >= frames:
        return {"use_framewise_decoding": False}
    if chunk < 3:
        log.info("DVVAEDecode: decode_chunk_size %d raised to 3 (HunyuanVideo's VAE overlaps chunks by 2 latent "
                 "frames).", chunk)
        chunk = 3
    temporal = module.temporal_compression_ratio
    return {"use_framewise_decoding": True, "tile_sample_min_num_frames": (chunk - 1) * temporal,
            "tile_sample_stride_num_frames": (chunk - 2) * temporal}


def _decoder_calls(module, latents, spatial: int) -> int:
    frames = latents.shape[2]
    window = module.tile_sample_min_num_frames // module.temporal_compression_ratio
    tiles = decode_util.strided_tile_count(module, latents, spatial)
    if not (module.use_framewise_decoding and frames > window):
        return tiles
    stride = module.tile_sample_stride_num_frames // module.temporal_compression_ratio
    return len(range(0, frames, stride)) * decode_util.strided_tile_count(module, latents[:, :, :window + 1], spatial)


def decode(vae: DVVAE, latent: dict[str, Any], settings: decode_util.DecodeSettings):
    """As HunyuanVideoPipeline does after sampling: divide by the scaling factor, then the VAE with its own
    framewise (temporally tiled) decode, optionally in spatial tiles."""
    from diffusers.video_processor import VideoProcessor

    module = vae.module
    samples = latent["samples"]
    decode_util.check_latent(vae, samples, int(module.config.latent_channels))
    host.load_to_device([vae.managed])
    latents = samples.to(device=vae.managed.device, dtype=vae.managed.dtype) / module.config.scaling_factor
    spatial = vae.geometry.spatial
    overrides = {**decode_util.strided_tiling(settings, spatial),
                 **_chunking(module, latents.shape[2], settings.chunk)}
    with decode_util.temporary_attributes(module, **overrides):
        with decode_util.progress_per_call(module.decoder, _decoder_calls(module, latents, spatial)):
            video = module.decode(latents, return_dict=False)[0]
    return decode_util.to_image(VideoProcessor(vae_scale_factor=spatial), video)
