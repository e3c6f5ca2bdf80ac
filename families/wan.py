"""Wan (Alibaba): text- and image-to-video with a UMT5 encoder, flow-matching DiTs and a causal 3D VAE.

Variants, told apart by their configs: Wan2.1 (one DiT; image-to-video adds a CLIP image encoder and a DiT
that also takes the first frame's latents), Wan2.2 A14B (two experts: `transformer` for the high-noise steps,
`transformer_2` below `boundary_ratio`; its image-to-video DiT has no CLIP input) and Wan2.2 TI2V-5B (one DiT
for text- and image-to-video on a 48-channel VAE 16x smaller in space, with per-token timesteps:
`expand_timesteps`). WanPipeline / WanImageToVideoPipeline drive all of them, given the folder's pipeline
config; the Wan VAE with its latents mean/std decodes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import host
from ..errors import DVInputError
from ..model_loaders.components import DVVAE, DVConditioning, DVModel, DVSchedulerSpec, DVTextEncoder
from ..samplers import decode as decode_util
from ..samplers.clip_text import encode_t5_with_pipeline
from ..samplers.pipeline import SampleInputs, SampleParams, assemble, denoisers_loaded, run_denoise
from ..samplers.validate import check_common, require_conditioning
from .spec import Family, FrameRule, LatentGeometry, OptionSpec, Variant

TI2V_CHANNELS = 48  # the Wan2.2 VAE's latent channels (z_dim), which only TI2V-5B uses


def _is_ti2v_5b(configs: Mapping[str, Any]) -> bool:
    return (bool(configs.get("pipeline", {}).get("expand_timesteps"))
            or configs.get("vae", {}).get("z_dim") == TI2V_CHANNELS
            or configs.get("denoiser", {}).get("out_channels") == TI2V_CHANNELS)


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
    pipeline_classes={"t2v": "WanPipeline", "i2v": "WanImageToVideoPipeline"},
    model_classes=("WanTransformer3DModel",),
    vae_classes=("AutoencoderKLWan",),
    text_encoder_classes=("UMT5EncoderModel", "T5EncoderModel"),
    frame_rule=FrameRule(multiple=4, offset=1),
    size_multiple=16,
    pipeline_size_multiple=16,
    geometry=LatentGeometry(spatial=8, temporal=4, channels=16, scaling_factor=1.0),
    order=20,
    single_file_types={"wan-t2v": "WanTransformer3DModel", "wan-i2v": "WanTransformer3DModel"},
    # diffusers' detection reports the Wan VAE as a Wan model type; the VAE's own key tells them apart.
    single_file_vae_keys={"decoder.middle.0.residual.0.gamma": "AutoencoderKLWan"},
    single_file_hub_refusal=_single_file_hub_refusal,
    comfy_latent_format="Wan21",
    flow_matching=True,
    defaults={"num_frames": 81, "fps": 16, "steps": 50, "guidance_scale": 5.0, "width": 832, "height": 480,
              "max_sequence_length": 512},
    variants=(
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


def _check_task(model: DVModel, inputs: SampleInputs) -> str:
    label = model.family.label
    if inputs.video is not None:
        raise DVInputError("video", f"{label} takes no video.", "disconnect 'video'.")
    if inputs.image is None:
        if not takes_text_alone(model):
            raise DVInputError("image", f"'{model.source}' is a {label} image-to-video model, and no "
                               "image is wired in.", "the first frame (an IMAGE) into 'image'.")
        return "t2v"
    if not takes_an_image(model):
        raise DVInputError("image", f"'{model.source}' is a {label} text-to-video model; it cannot "
                           "start from an image.", "an image-to-video model (Wan2.1-I2V, Wan2.2-I2V-A14B, "
                           "Wan2.2-TI2V-5B), or disconnect 'image'.")
    config = model.module.config
    if getattr(config, "pos_embed_seq_len", None) is not None:
        raise DVInputError("model", f"'{model.source}' is a first-last-frame model (Wan2.1-FLF2V), which "
                           "needs a last frame that DVSampler has no input for.",
                           "a Wan image-to-video model (Wan2.1-I2V, Wan2.2-I2V-A14B, Wan2.2-TI2V-5B).")
    if inputs.vae is None:
        raise DVInputError("vae", f"{label} image-to-video encodes the image with its VAE, and none "
                           "is wired in.", "the VAE from the same folder.")
    if config.image_dim is not None:  # Wan2.1 I2V: CLIP image embeddings as well
        for role in ("image_encoder", "image_processor"):
            if role not in model.companions:
                raise DVInputError("model", f"this image-to-video model came without its {role}.",
                                   "load it with DVPipelineLoader from its diffusers folder.")
    return "i2v"


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
    task = _check_task(model, inputs)
    _check_experts(model)
    _check_vae(model, inputs.vae)
    cond = require_conditioning(model, inputs)
    patch = model.module.config.patch_size  # (t, h, w)
    check_common(model, cond, params, model.geometry.spatial * int(patch[1]))
    text_dim = int(model.module.config.text_dim)
    if int(cond.embeds["prompt_embeds"].shape[-1]) != text_dim:
        raise DVInputError("conditioning", f"the text embeddings have width "
                           f"{cond.embeds['prompt_embeds'].shape[-1]}, but this transformer expects {text_dim}.",
                           "the UMT5 text encoder from the same Wan folder.")
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
    if task == "i2v":
        from diffusers import WanImageToVideoPipeline

        from ..samplers.image_input import pipeline_image

        clip = model.module.config.image_dim is not None
        others = [inputs.vae.managed, *(model.managed_companions() if clip else [])]
        pipe = assemble(WanImageToVideoPipeline, model.pipeline_config, vae=inputs.vae.module,
                        scheduler=scheduler.create(),
                        image_processor=model.companions["image_processor"] if clip else None,
                        image_encoder=model.companions["image_encoder"].module if clip else None, **experts)
        # The same PIL image for the VAE and the CLIP encoder, as a user of the pipeline would pass it.
        call_kwargs["image"] = pipeline_image("image", inputs.image, params.height, params.width, inputs.options)
    else:
        pipe = assemble(_pipeline_class(), model.pipeline_config, scheduler=scheduler.create(), **experts)
        # Geometry the pipeline reads from the VAE, which sampling does not need.
        pipe.vae_scale_factor_spatial = model.geometry.spatial
        pipe.vae_scale_factor_temporal = model.geometry.temporal
    with denoisers_loaded(model, *others):
        latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, lambda x: x)
    return {"samples": latents.to(host.intermediate_device()), "dv_family": FAMILY.id,
            "dv_num_frames": params.num_frames}


def decode(vae: DVVAE, latent: dict[str, Any], settings: decode_util.DecodeSettings):
    """As WanPipeline does after sampling: undo the latents normalisation, then the VAE, which already
    decodes one latent frame at a time with a causal cache (so there is no chunk size to choose)."""
    import torch
    from diffusers.video_processor import VideoProcessor

    module = vae.module
    config = module.config
    samples = latent["samples"]
    decode_util.check_latent(vae, samples, int(config.z_dim))
    host.load_to_device([vae.managed])
    latents = samples.to(device=vae.managed.device, dtype=vae.managed.dtype)
    mean = torch.tensor(config.latents_mean).view(1, config.z_dim, 1, 1, 1).to(latents.device, latents.dtype)
    inv_std = 1.0 / torch.tensor(config.latents_std).view(1, config.z_dim, 1, 1, 1).to(latents.device, latents.dtype)
    latents = latents / inv_std + mean
    spatial = vae.geometry.spatial
    with decode_util.temporary_attributes(module, **decode_util.strided_tiling(settings, spatial)):
        calls = latents.shape[2] * decode_util.strided_tile_count(module, latents, spatial)
        with decode_util.progress_per_call(module.decoder, calls):
            video = module.decode(latents, return_dict=False)[0]
    return decode_util.to_image(VideoProcessor(vae_scale_factor=8), video)
