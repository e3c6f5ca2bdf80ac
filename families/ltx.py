"""LTX-Video (Lightricks): text- and image-to-video with a T5 encoder, a flow-matching DiT on 1x1 patches of
a 32x-compressed latent, and a VAE whose decoder can be conditioned on a timestep with added noise.

LTX-Video glue: LTXPipeline / LTXImageToVideoPipeline for prompts and sampling (0.9.0/0.9.1);
LTXConditionPipeline for 0.9.5+ and for keyframes, clips and refining a latent (nodes/ltx.py);
LTXLatentUpsamplePipeline for the spatial latent upscaler; the VAE's timestep-conditioned decode with the noise
the pipeline would have drawn, for decoding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import host
from ..errors import DVInputError
from ..model_loaders.components import DVVAE, DVConditioning, DVModel, DVSchedulerSpec, DVTextEncoder
from ..samplers import decode as decode_util
from ..samplers.clip_text import T5_EMBED_KEYS, encode_t5_with_pipeline
from ..samplers.pipeline import SampleInputs, SampleParams, assemble, run_denoise
from ..samplers.validate import check_common, check_steps_for_terminal_shift, require_conditioning
from .spec import Family, FrameRule, LatentGeometry, OptionSpec, Variant

# The VAE down block of LTX-Video 0.9.5 and later (0.9.7, 0.9.8): the releases trained for keyframe and video
# conditions at any frame (LTXConditionPipeline) and paired with the spatial latent upscaler.
VAE_095_BLOCK = "LTXVideo095DownBlock3D"


RELEASE_095 = "ltx-0.9.5"


def _is_095_or_later(configs) -> bool:
    return VAE_095_BLOCK in tuple((configs.get("vae") or {}).get("down_block_types") or ())


def _vae_geometry(cfg, default: LatentGeometry) -> LatentGeometry:
    """LTX-Video's VAE patchifies, then halves space and time once per scaling block; 0.9.5 and later halve
    space or time alone in some blocks and write the ratios into the config, which the VAE then uses as they
    are (AutoencoderKLLTXVideo.spatial_compression_ratio), so they win here too."""
    if "spatio_temporal_scaling" not in cfg:
        return default
    steps = sum(bool(x) for x in cfg["spatio_temporal_scaling"])
    return LatentGeometry(spatial=int(cfg.get("spatial_compression_ratio") or
                                      int(cfg.get("patch_size", 1)) * 2**steps),
                          temporal=int(cfg.get("temporal_compression_ratio") or
                                       int(cfg.get("patch_size_t", 1)) * 2**steps),
                          channels=int(cfg.get("latent_channels", default.channels)),
                          scaling_factor=float(cfg.get("scaling_factor", default.scaling_factor)))


FAMILY = Family(
    id="ltx",
    label="LTX-Video",
    # "condition": keyframes / video conditions and refining a latent; 0.9.7 folders are saved as this pipeline.
    pipeline_classes={"t2v": "LTXPipeline", "i2v": "LTXImageToVideoPipeline", "condition": "LTXConditionPipeline"},
    model_classes=("LTXVideoTransformer3DModel",),
    vae_classes=("AutoencoderKLLTXVideo",),
    text_encoder_classes=("T5EncoderModel",),
    frame_rule=FrameRule(multiple=8, offset=1),
    size_multiple=32,
    pipeline_size_multiple=32,
    # diffusers 0.42.1: LTX's processor expands the text attention mask to every head ([B, heads, 1, S]) and the
    # Ulysses all-to-all leaves each rank heads/degree heads, so the mask no longer broadcasts (a RuntimeError
    # "size of tensor a (2) must match ... b (4)" on 2 ranks, on CPU and GPU alike).
    context_parallel_refusal="diffusers' Ulysses attention fails on LTX-Video's text attention mask (the mask "
    "keeps every head while each rank holds a share of them), with diffusers 0.42.1",
    geometry=LatentGeometry(spatial=32, temporal=8, channels=128, scaling_factor=1.0),
    order=25,
    vae_geometry=_vae_geometry,
    batched_cfg=True,
    single_file_types={"ltx-video": "LTXVideoTransformer3DModel"},
    comfy_latent_format="LTXV",
    flow_matching=True,
    defaults={"num_frames": 161, "fps": 24, "steps": 50, "guidance_scale": 3.0, "width": 704, "height": 480,
              "max_sequence_length": 128},
    variants=(
        # The settings of the diffusers guide's LTXConditionPipeline example for 0.9.5+ (768x512, 161 frames, 40
        # steps); the release's VAE is detected by its down blocks, as a standalone transformer is not told apart.
        Variant(RELEASE_095, _is_095_or_later, {
            "label": "LTX-Video 0.9.5+",
            "defaults": {"num_frames": 161, "fps": 24, "steps": 40, "guidance_scale": 3.0, "width": 768,
                         "height": 512, "max_sequence_length": 128}}),
        Variant("ltx-0.9", lambda configs: True, {"label": "LTX-Video"}),  # 0.9.0 / 0.9.1, or not told
    ),
    options=(
        OptionSpec("frame_rate", "INT", 24, "The frame rate the model is told the video has (it scales the "
                   "positions in time); match DVVideoCombine's fps.", 1, 120, 1),
        OptionSpec("decode_timestep", "FLOAT", 0.03, "Timestep the VAE decodes at (LTX-Video 0.9.1 and later; "
                   "0.9.0 ignores it). Higher smooths more.", 0.0, 1.0, 0.005),
        OptionSpec("decode_noise_scale", "FLOAT", 0.025, "Noise mixed into the latents before that decode "
                   "(the model card's 0.025).", 0.0, 1.0, 0.005),
        OptionSpec("guidance_rescale", "FLOAT", 0.0, "Pull the guided prediction's spread back towards the "
                   "prompt-only one (0 off; ~0.7 in the paper) against over-saturation at high guidance. "
                   "Only acts with guidance_scale > 1.", 0.0, 1.0, 0.05),
    ),
    options_node="DVLTXOptions",
    # The diffusers LTX-Video guide (api/pipelines/ltx_video.md): "The recommended dtype for the transformer, VAE,
    # and text encoder is `torch.bfloat16`. The VAE and text encoder can also be `torch.float32` or
    # `torch.float16`": bf16 for all (the device default), and the transformer not in fp16.
    fp16_overflows=True,
)

# LTX-Video's released scheduler: FlowMatch Euler with resolution-dependent (dynamic) shifting, as its
# scheduler_config.json has it. Used when a model comes without its folder.
DEFAULT_SCHEDULER = DVSchedulerSpec.from_config_dict(
    "FlowMatchEulerDiscreteScheduler",
    {"num_train_timesteps": 1000, "shift": 1.0, "use_dynamic_shifting": True, "base_shift": 0.95,
     "max_shift": 2.05, "base_image_seq_len": 1024, "max_image_seq_len": 4096, "shift_terminal": 0.1},
    "LTX-Video default",
)


def _pipeline(task: str = "t2v", **components: Any):
    import diffusers

    return assemble(getattr(diffusers, FAMILY.pipeline_classes[task]), **components)


# LTXConditionPipeline hands T5 the attention mask, LTXPipeline does not, so the two embed a prompt differently;
# DVTextEncode makes both (the second under this prefix) and each sampling path takes its pipeline's own.
CONDITION_EMBEDS = "condition_pipeline_"


def encode(te: DVTextEncoder, prompt: str, negative_prompt: str, max_sequence_length: int,
           truncate: bool) -> DVConditioning:
    cond = encode_t5_with_pipeline(FAMILY, _pipeline, te, prompt, negative_prompt, max_sequence_length,
                                   truncate, T5_EMBED_KEYS)
    masked = encode_t5_with_pipeline(FAMILY, lambda **parts: _pipeline("condition", **parts), te, prompt,
                                     negative_prompt, max_sequence_length, truncate, T5_EMBED_KEYS)
    cond.embeds.update({CONDITION_EMBEDS + key: value for key, value in masked.embeds.items()})
    return cond


def _call_embeds(cond: DVConditioning, condition_pipeline: bool, device, dtype) -> dict[str, Any]:
    """The embeddings the chosen pipeline makes itself, on the sampling device and dtype (masks keep theirs)."""
    own = {key: cond.embeds.get(CONDITION_EMBEDS + key, value) if condition_pipeline else value
           for key, value in cond.embeds.items() if not key.startswith(CONDITION_EMBEDS)}
    return {key: value.to(device=device, dtype=dtype if value.is_floating_point() else value.dtype)
            for key, value in own.items()}


def _check_inputs(model: DVModel, params: SampleParams, inputs: SampleInputs) -> tuple[str, Any]:
    if inputs.video is not None:
        raise DVInputError("video", f"{FAMILY.label} takes no video.", "disconnect 'video'.")
    task = "i2v" if inputs.image is not None else "t2v"
    if task == "i2v" and inputs.vae is None:
        raise DVInputError("vae", f"{FAMILY.label} image-to-video encodes the image with its VAE, and none "
                           "is wired in.", "the VAE from the same folder.")
    cond = require_conditioning(model, inputs)
    check_common(model, cond, params, FAMILY.size_multiple)
    width = int(cond.embeds["prompt_embeds"].shape[-1])
    if width != int(model.module.config.caption_channels):
        raise DVInputError("conditioning", f"the text embeddings have width {width}, but this transformer "
                           f"expects {model.module.config.caption_channels}.",
                           "the T5 text encoder from the same LTX-Video folder.")
    return task, cond


def sample(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
           inputs: SampleInputs) -> dict[str, Any]:
    import torch
    from diffusers.utils.torch_utils import randn_tensor

    if uses_condition_pipeline(model, inputs):
        return _sample_with_conditions(model, scheduler, params, inputs)
    task, cond = _check_inputs(model, params, inputs)
    check_steps_for_terminal_shift(scheduler, params.num_inference_steps)
    dtype, device = model.managed.dtype, model.managed.device
    call_kwargs = _call_embeds(cond, False, device, dtype)
    call_kwargs.update(height=params.height, width=params.width, num_frames=params.num_frames,
                       num_inference_steps=params.num_inference_steps, guidance_scale=params.guidance_scale,
                       frame_rate=int(inputs.option("frame_rate", 24)),
                       guidance_rescale=float(inputs.option("guidance_rescale", 0.0)))
    if task == "i2v":
        from ..samplers.image_input import pipeline_image

        host.load_to_device([model.managed, inputs.vae.managed])
        pipe = _pipeline("i2v", transformer=model.module, vae=inputs.vae.module, scheduler=scheduler.create())
        call_kwargs["image"] = pipeline_image("image", inputs.image, params.height, params.width, inputs.options)
    else:
        host.load_to_device([model.managed])
        pipe = _pipeline(transformer=model.module, scheduler=scheduler.create())
        # Geometry the pipeline reads from the VAE, which text-to-video sampling does not need.
        pipe.vae_spatial_compression_ratio = model.geometry.spatial
        pipe.vae_temporal_compression_ratio = model.geometry.temporal
    spatial, temporal = pipe.vae_spatial_compression_ratio, pipe.vae_temporal_compression_ratio
    shape = (1, int(model.module.config.in_channels), (params.num_frames - 1) // temporal + 1,
             params.height // spatial, params.width // spatial)
    drawn: dict[str, Any] = {}

    def draw_decode_noise(generator) -> None:
        # LTXPipeline draws this right after its loop, from the same generator, when it decodes itself, in the
        # prompt embeddings' dtype (a bf16 draw is not always an fp32 draw rounded, so the dtype matters).
        drawn["noise"] = randn_tensor(shape, generator=generator, device=torch.device("cpu"), dtype=dtype)

    def unpacked(latents):  # the step callback hands over the packed [B, tokens, C] sequence
        return pipe._unpack_latents(latents, *shape[2:], pipe.transformer_spatial_patch_size,
                                    pipe.transformer_temporal_patch_size)

    packed = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, unpacked,
                         after=draw_decode_noise)
    latents = pipe._unpack_latents(packed, *shape[2:], pipe.transformer_spatial_patch_size,
                                   pipe.transformer_temporal_patch_size)
    return {"samples": latents.to(host.intermediate_device()), "dv_family": FAMILY.id,
            "dv_num_frames": params.num_frames, "dv_decode_noise": drawn["noise"],
            "dv_decode_timestep": float(inputs.option("decode_timestep", 0.03)),
            "dv_decode_noise_scale": float(inputs.option("decode_noise_scale", 0.025))}


# ------------------------------------------------------------------ keyframes, video conditions, refining (0.9.5+)


@dataclass(frozen=True, eq=False)
class LTXKeyframe:
    """One DVLTXCondition: an image (one frame) or a clip put at a frame of the video with a strength, as
    diffusers' LTXVideoCondition. `number` counts the DVLTXCondition nodes of a chain from the first, for
    messages."""

    image: Any  # IMAGE [1, H, W, C] or None
    video: Any  # IMAGE [F, H, W, C] or None
    frame_index: int
    strength: float
    number: int = 1

    @property
    def kind(self) -> str:
        return "image" if self.image is not None else "video"

    def named(self) -> str:
        if self.number == 0:
            return "DVSampler's image (a keyframe at frame 0)"
        return f"DVLTXCondition #{self.number} ({self.kind} at frame {self.frame_index})"


# The DV_SAMPLER_OPTIONS keys the LTX nodes of nodes/ltx.py set; any of them runs LTXConditionPipeline.
CONDITIONS, IMAGE_COND_NOISE, REFINE_LATENT, DENOISE_STRENGTH = (
    "conditions", "image_cond_noise_scale", "latents", "denoise_strength")
IMAGE_COND_NOISE_DEFAULT = 0.025  # DVLTXCondition's widget default: the diffusers guide's value for 0.9.1+
# DVLTXRefineLatent's stage-2 noise levels, used as they are: LTX-2's recipe (LTX-Video refines by denoise_strength).
REFINE_SIGMAS = "refine_sigmas"
# The pipeline's own minimum: a clip after frame 0 keeps its first 2 latent frames as extra tokens.
_PREFIX_LATENT_FRAMES = 2


def uses_condition_pipeline(model: DVModel, inputs: SampleInputs) -> bool:
    """Conditions or a latent to refine need LTXConditionPipeline; and LTX-Video 0.9.5+ (told by its VAE, from the
    model's folder or the VAE wired in) always runs through it, as the diffusers guide and the 0.9.7 folders do."""
    if inputs.option(CONDITIONS, None) is not None or inputs.option(REFINE_LATENT, None) is not None:
        return True
    return RELEASE_095 in (model.family.variant, getattr(getattr(inputs.vae, "family", None), "variant", ""))


def _checked_keyframes(keyframes: list[LTXKeyframe], params: SampleParams, temporal: int,
                       options: dict[str, Any] | None) -> list[Any]:
    """diffusers LTXVideoConditions of the keyframes, as PIL images the guide would load, refused by name first
    where the pipeline would fail or quietly drop them."""
    from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

    from ..samplers.image_input import check_frames, pipeline_frames, pipeline_image, resize_mode

    last = params.num_frames - 1
    made = []
    for keyframe in keyframes:
        where = f"{keyframe.named()} in the options"
        if keyframe.frame_index > last:
            at_least = FAMILY.frame_rule.nearest(keyframe.frame_index + 1)[-1]
            raise DVInputError("options", f"{where}: its frame_index {keyframe.frame_index} is past the last frame "
                               f"({last}).", f"a frame_index from 0 to {last}, or num_frames {at_least} or more.")
        if keyframe.image is not None:
            image = pipeline_image("image", keyframe.image, params.height, params.width, options)
            made.append(LTXVideoCondition(image=image, frame_index=keyframe.frame_index, strength=keyframe.strength))
            continue
        check_frames("video", keyframe.video)
        h, w = int(keyframe.video.shape[1]), int(keyframe.video.shape[2])
        if (h, w) != (params.height, params.width) and resize_mode(options) == "default" and \
                abs(w / h - params.width / params.height) > 0.01:
            raise DVInputError("options", f"{where}: its video frames are {w}x{h}, the video {params.width}x"
                               f"{params.height}; stretched to another aspect the clip would steer the video out "
                               "of shape.",
                               f"frames of the video's aspect (e.g. {params.width}x{params.height}), or a "
                               "resize_mode (fill or crop) on DVImageInputOptions.")
        # The pipeline keeps the clip's frames that fit after frame_index, cut to temporal*k+1.
        fit = min(int(keyframe.video.shape[0]), params.num_frames - keyframe.frame_index)
        kept = (fit - 1) // temporal * temporal + 1
        if keyframe.frame_index > 0 and (kept - 1) // temporal + 1 < _PREFIX_LATENT_FRAMES:
            need = (_PREFIX_LATENT_FRAMES - 1) * temporal + 1
            raise DVInputError("options", f"{where}: a clip after frame 0 needs at least {need} of its frames "
                               f"inside the video, and {fit} fit.", f"a frame_index of at most "
                               f"{max(0, params.num_frames - need)} with a clip of {need}+ frames, or an image "
                               "condition for a single frame.")
        frames = pipeline_frames("video", keyframe.video, params.height, params.width, options, count=kept)
        made.append(LTXVideoCondition(video=frames, frame_index=keyframe.frame_index, strength=keyframe.strength))
    return made


def _refine_latent(model: DVModel, params: SampleParams, latent: dict[str, Any], spatial: int,
                   temporal: int) -> Any:
    """The latent DVLTXRefineLatent carries, checked against the size and frame count asked for."""
    samples = latent["samples"]
    channels = int(model.module.config.in_channels)
    if int(samples.shape[1]) != channels:
        raise DVInputError("options", f"DVLTXRefineLatent's latent has {int(samples.shape[1])} channels, this "
                           f"transformer takes {channels}.", "a latent of the same LTX-Video model (DVSampler, "
                           "then DVLTXUpsampleLatent).")
    expected = (1, channels, (params.num_frames - 1) // temporal + 1, params.height // spatial,
                params.width // spatial)
    if tuple(samples.shape) != expected:
        frames = int(latent.get("dv_num_frames") or (int(samples.shape[2]) - 1) * temporal + 1)
        raise DVInputError("width", f"the latent to refine is {tuple(samples.shape)}, a "
                           f"{int(samples.shape[-1]) * spatial}x{int(samples.shape[-2]) * spatial} video of "
                           f"{int(samples.shape[2])} latent frames, and DVSampler asks for {params.width}x"
                           f"{params.height}, {params.num_frames} frames.",
                           f"width {int(samples.shape[-1]) * spatial}, height {int(samples.shape[-2]) * spatial} and "
                           f"num_frames {frames} on this DVSampler (the latent's own size).")
    return samples


def _sample_with_conditions(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
                            inputs: SampleInputs) -> dict[str, Any]:
    """LTXConditionPipeline: keyframes and clips at frame indices (DVLTXCondition, DVSampler's image as a
    keyframe at frame 0) and the second stage of the two-stage recipe (DVLTXRefineLatent's latent and
    denoise_strength), with the decode noise drawn as the pipeline draws it."""
    import torch
    from diffusers.utils.torch_utils import randn_tensor

    if inputs.video is not None:
        raise DVInputError("video", f"{FAMILY.label} takes clips through DVLTXCondition, not DVSampler's video.",
                           "a DVLTXCondition with the clip in its 'video' and a frame_index, or disconnect 'video'.")
    if inputs.vae is None:
        raise DVInputError("vae", "LTXConditionPipeline (LTX-Video 0.9.5+, keyframes, clips, refining a latent) "
                           "encodes conditions with the VAE and reads its dtype even for text alone, and none is "
                           "wired in.",
                           "the VAE from the same folder into DVSampler's vae.")
    cond = require_conditioning(model, inputs)
    check_common(model, cond, params, FAMILY.size_multiple)
    width = int(cond.embeds["prompt_embeds"].shape[-1])
    if width != int(model.module.config.caption_channels):
        raise DVInputError("conditioning", f"the text embeddings have width {width}, but this transformer "
                           f"expects {model.module.config.caption_channels}.",
                           "the T5 text encoder from the same LTX-Video folder.")
    made = scheduler.create()
    if getattr(made.config, "use_dynamic_shifting", False):
        raise DVInputError("scheduler", "LTXConditionPipeline runs its own timesteps, which a FlowMatch scheduler "
                           "with use_dynamic_shifting (LTX-Video 0.9.0/0.9.1's) refuses without a shift to apply.",
                           "an LTX-Video 0.9.5+ model with its own scheduler ('from model'), or DVPipelineLoader's "
                           "scheduler of such a folder.")
    keyframes = list(inputs.option(CONDITIONS, ()) or ())
    if inputs.image is not None:  # DVSampler's image: a keyframe at frame 0, as image-to-video has it
        keyframes.insert(0, LTXKeyframe(inputs.image, None, 0, 1.0, 0))
    vae = inputs.vae
    spatial, temporal = vae.geometry.spatial, vae.geometry.temporal
    conditions = _checked_keyframes(keyframes, params, temporal, inputs.options)
    latent = inputs.option(REFINE_LATENT, None)
    refine = None if latent is None else _refine_latent(model, params, latent, spatial, temporal)
    if inputs.option(REFINE_SIGMAS, None):
        raise DVInputError("options", "DVLTXRefineLatent's sigmas are LTX-2's stage-2 schedule; LTXConditionPipeline "
                           "refines by denoise_strength.", "empty sigmas on DVLTXRefineLatent with an LTX-Video model.")

    dtype, device = model.managed.dtype, model.managed.device
    call_kwargs = _call_embeds(cond, True, device, dtype)
    call_kwargs.update(height=params.height, width=params.width, num_frames=params.num_frames,
                       num_inference_steps=params.num_inference_steps, guidance_scale=params.guidance_scale,
                       frame_rate=int(inputs.option("frame_rate", 24)),
                       guidance_rescale=float(inputs.option("guidance_rescale", 0.0)),
                       image_cond_noise_scale=float(inputs.option(IMAGE_COND_NOISE, IMAGE_COND_NOISE_DEFAULT)))
    if conditions:
        call_kwargs["conditions"] = conditions
    if refine is not None:
        strength = float(inputs.option(DENOISE_STRENGTH, 1.0))
        if int(params.num_inference_steps * strength) < 1:  # the pipeline would run no step and fail
            import math

            raise DVInputError("num_inference_steps", f"denoise_strength {strength} of {params.num_inference_steps} "
                               "steps runs no step.", f"num_inference_steps of at least {math.ceil(1 / strength)}"
                               if strength > 0 else "a denoise_strength above 0 on DVLTXRefineLatent.")
        call_kwargs.update(latents=refine, denoise_strength=strength)
    host.load_to_device([model.managed, vae.managed])
    pipe = _pipeline("condition", transformer=model.module, vae=vae.module, scheduler=made)
    shape = (1, int(model.module.config.in_channels), (params.num_frames - 1) // temporal + 1,
             params.height // spatial, params.width // spatial)
    tokens = shape[2] * shape[3] * shape[4]
    drawn: dict[str, Any] = {}

    def draw_decode_noise(generator) -> None:  # as LTXPipeline: right after the loop, in the embeddings' dtype
        drawn["noise"] = randn_tensor(shape, generator=generator, device=torch.device("cpu"), dtype=dtype)

    def unpacked(latents):  # the step's packed tokens: the keyframes' extra tokens first, then the video's
        return pipe._unpack_latents(latents[:, -tokens:], *shape[2:], pipe.transformer_spatial_patch_size,
                                    pipe.transformer_temporal_patch_size)

    latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, unpacked,
                          after=draw_decode_noise)
    return {"samples": latents.to(host.intermediate_device()), "dv_family": FAMILY.id,
            "dv_num_frames": params.num_frames, "dv_decode_noise": drawn["noise"],
            "dv_decode_timestep": float(inputs.option("decode_timestep", 0.03)),
            "dv_decode_noise_scale": float(inputs.option("decode_noise_scale", 0.025))}


def decode(vae: DVVAE, latent: dict[str, Any], settings: decode_util.DecodeSettings):
    """As LTXPipeline after its loop: undo the latents normalisation, and for a timestep-conditioned VAE mix in
    the run's decode noise and decode at decode_timestep. Spatial tiling and temporal chunks as the VAE offers
    them; decode_chunk_size 0 (or at least the latent frames) decodes in one pass, as the pipeline does."""
    import torch
    from diffusers import LTXPipeline
    from diffusers.video_processor import VideoProcessor

    module = vae.module
    samples = latent["samples"]
    decode_util.check_latent(vae, samples, int(module.config.latent_channels))
    host.load_to_device([vae.managed])
    device, dtype = vae.managed.device, vae.managed.dtype
    latents = LTXPipeline._denormalize_latents(samples.to(device=device, dtype=torch.float32), module.latents_mean,
                                               module.latents_std, module.config.scaling_factor)
    timestep = None
    if module.config.timestep_conditioning:
        noise = latent.get("dv_decode_noise")
        if noise is None or tuple(noise.shape) != tuple(latents.shape):
            noise = torch.randn(latents.shape, generator=torch.Generator().manual_seed(0))  # latents from elsewhere
        # Mixed in the noise's dtype (the sampling dtype), as the pipeline mixes in its prompt embeddings' dtype.
        scale = torch.tensor(float(latent.get("dv_decode_noise_scale", 0.025)), dtype=noise.dtype, device=device)
        latents = latents.to(noise.dtype)
        latents = (1 - scale) * latents + scale * noise.to(device=device)
        timestep = torch.tensor([float(latent.get("dv_decode_timestep", 0.03))], device=device, dtype=dtype)
    spatial, temporal = vae.geometry.spatial, vae.geometry.temporal
    overrides = decode_util.strided_tiling(settings, spatial)
    if settings.chunk and settings.chunk < latents.shape[2]:
        # The VAE's own temporal tiles: `chunk` latent frames per call (plus the one it overlaps), blended
        # over one latent frame. The decoder is not causal, so chunks come out close to, not equal to, one pass.
        overrides.update(use_framewise_decoding=True, tile_sample_min_num_frames=settings.chunk * temporal,
                         tile_sample_stride_num_frames=max(1, settings.chunk - 1) * temporal)
    with decode_util.temporary_attributes(module, **overrides):
        calls = decode_util.strided_tile_count(module, latents, spatial)
        with decode_util.progress_per_call(module.decoder, calls):
            video = module.decode(latents.to(dtype), timestep, return_dict=False)[0]
    return decode_util.to_image(VideoProcessor(vae_scale_factor=spatial), video)


# ----------------------------------------------------------------------------------- spatial latent upscaler

# Where ComfyUI users keep the upscaler: core's latent_upscale_models folder (newer ComfyUI), upscale_models (where
# Lightricks' ComfyUI-LTXVideo nodes read ltxv-spatial-upscaler-0.9.7.safetensors), and diffusers folders
# (Lightricks/ltxv-spatial-upscaler-0.9.7: an LTXLatentUpsamplePipeline folder). Choices are "<folder kind>/<name>".
UPSAMPLER_FOLDERS = ("latent_upscale_models", "upscale_models")
UPSAMPLE_PIPELINE = "LTXLatentUpsamplePipeline"
UPSAMPLER_CLASS = "LTXLatentUpsamplerModel"
# LTX-2's upscaler (the latent_upsampler subfolder of the Lightricks/LTX-2 folders, or
# ltx-2-spatial-upscaler-*.safetensors): the same nodes load and run it, each latent with its own family's upscaler.
LTX2_UPSAMPLE_PIPELINE, LTX2_UPSAMPLER_CLASS = "LTX2LatentUpsamplePipeline", "LTX2LatentUpsamplerModel"


@dataclass(eq=False)
class DVLTXLatentUpsampler:
    """DV_LTX_LATENT_UPSAMPLER: LTX-Video's latent upscaler (LTXLatentUpsamplerModel), under the memory manager."""

    managed: Any  # host.ManagedModule
    source: str
    family_id: str = "ltx"  # the family whose latents it upscales ("ltx2": LTX2LatentUpsamplerModel)

    @property
    def module(self):
        return self.managed.module


def _is_upsampler_file(path: str) -> bool:
    """A .safetensors whose tensors are LTXLatentUpsamplerModel's (only its header is read)."""
    from safetensors import safe_open

    try:
        with safe_open(path, "pt") as f:
            keys = set(f.keys())
    except Exception:  # noqa: BLE001 - any unreadable file is simply not a choice
        return False
    # LTX-2's upscalers resample space by a rational factor (upsampler.conv) instead of a pixel shuffle conv.
    return {"initial_conv.weight", "final_conv.weight"} <= keys and bool(
        {"upsampler.0.weight", "upsampler.conv.weight"} & keys)


def list_latent_upsamplers() -> list[str]:
    import json
    import os

    names = []
    for kind in UPSAMPLER_FOLDERS:
        for name in host.list_model_files(kind):
            path = host.resolve_in_folder(kind, name) if name.lower().endswith((".safetensors", ".sft")) else None
            if path is not None and os.path.isfile(path) and _is_upsampler_file(path):
                names.append(f"{kind}/{name}")
        names += [f"{kind}/{name}" for name in host.list_diffusers_folders(kind, "config.json")]
    for name in host.list_diffusers_folders("diffusers", "model_index.json"):
        path = host.resolve_in_folder("diffusers", os.path.join(name, "model_index.json"))
        try:
            with open(path, encoding="utf-8") as f:
                if json.load(f).get("_class_name") in (UPSAMPLE_PIPELINE, LTX2_UPSAMPLE_PIPELINE):
                    names.append(f"diffusers/{name}")
                    continue
            # An LTX-2 model folder carries its upscaler beside the pipeline's components.
            with open(os.path.join(os.path.dirname(path), "latent_upsampler", "config.json"), encoding="utf-8") as f:
                if json.load(f).get("_class_name") == LTX2_UPSAMPLER_CLASS:
                    names.append(f"diffusers/{name}")
        except (OSError, ValueError, TypeError):
            continue
    return sorted(set(names))


def _upsampler_config(tensors: dict[str, Any]) -> dict[str, Any]:
    """LTXLatentUpsamplerModel's config read off its weights (Lightricks' files name the tensors as diffusers
    does: its conversion script loads them unchanged)."""
    first = tensors["initial_conv.weight"]
    mid = int(first.shape[0])
    if "upsampler.conv.weight" in tensors:  # LTX-2: a pixel shuffle by num, then a blurred stride (x2: 2 / 1)
        num = round((int(tensors["upsampler.conv.weight"].shape[0]) // mid) ** 0.5)
        return {"in_channels": int(first.shape[1]), "mid_channels": mid, "dims": first.ndim - 2,
                "num_blocks_per_stage": len({k.split(".")[1] for k in tensors if k.startswith("res_blocks.")}),
                "spatial_upsample": True, "temporal_upsample": False,
                "rational_spatial_scale": {2: 2.0, 3: 1.5, 4: 4.0}.get(num, float(num))}
    up = tensors["upsampler.0.weight"]
    factor = int(up.shape[0]) // mid  # 4: space (2x2), 2: time, 8: both
    return {"in_channels": int(first.shape[1]), "mid_channels": mid, "dims": first.ndim - 2,
            "num_blocks_per_stage": len({k.split(".")[1] for k in tensors if k.startswith("res_blocks.")}),
            "spatial_upsample": factor in (4, 8), "temporal_upsample": factor in (2, 8)}


def load_latent_upsampler(name: str, dtype_name: str, input_name: str = "latent_upsampler") -> DVLTXLatentUpsampler:
    import os

    from diffusers.pipelines.ltx.modeling_latent_upsampler import LTXLatentUpsamplerModel
    from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

    from ..model_loaders.loading import component_dtype, read_json

    valid = ("an LTX-Video spatial latent upscaler: ltxv-spatial-upscaler-*.safetensors in models/"
             "latent_upscale_models or models/upscale_models, or the diffusers folder "
             "Lightricks/ltxv-spatial-upscaler-0.9.7 in models/diffusers; for LTX-2, "
             "ltx-2-spatial-upscaler-*.safetensors or an LTX-2 diffusers folder (its latent_upsampler).")
    classes = {UPSAMPLER_CLASS: (LTXLatentUpsamplerModel, "ltx"),
               LTX2_UPSAMPLER_CLASS: (LTX2LatentUpsamplerModel, "ltx2")}
    kind, _, rest = name.partition("/")
    path = host.resolve_in_folder(kind, rest) if kind in (*UPSAMPLER_FOLDERS, "diffusers") and rest else None
    if path is None:
        raise DVInputError(input_name, f"'{name}' is not in the latent upscaler folders.", valid)
    dtype = component_dtype(FAMILY, "latent_upsampler", dtype_name)
    if os.path.isdir(path):
        folder = path
        if os.path.isfile(os.path.join(path, "model_index.json")):
            folder = os.path.join(path, "latent_upsampler")
        config = read_json(os.path.join(folder, "config.json"), input_name) if os.path.isdir(folder) else {}
        if config.get("_class_name") not in classes:
            raise DVInputError(input_name, f"'{name}' holds no {UPSAMPLER_CLASS} or {LTX2_UPSAMPLER_CLASS}.", valid)
        model_class, family_id = classes[config["_class_name"]]
        module = model_class.from_pretrained(folder, dtype=dtype)
    else:
        from safetensors.torch import load_file

        if not path.lower().endswith((".safetensors", ".sft")) or not _is_upsampler_file(path):
            raise DVInputError(input_name, f"'{name}' is not an LTX-Video latent upscaler .safetensors.", valid)
        tensors = load_file(path)
        rational = "upsampler.conv.weight" in tensors
        model_class, family_id = classes[LTX2_UPSAMPLER_CLASS if rational else UPSAMPLER_CLASS]
        module = model_class(**_upsampler_config(tensors))
        try:
            module.load_state_dict(tensors, strict=True)
        except RuntimeError as error:
            raise DVInputError(input_name, f"'{name}' does not fit {model_class.__name__} ({str(error)[:200]}).",
                               valid) from error
        if module.dtype != dtype:
            module = module.to(dtype)
    return DVLTXLatentUpsampler(host.ManagedModule(module.eval(), name), name, family_id)


def upsample_latent(upsampler: DVLTXLatentUpsampler, vae: DVVAE, latent: dict[str, Any], adain_factor: float,
                    tone_map_compression_ratio: float) -> dict[str, Any]:
    """LTXLatentUpsamplePipeline on a sampled latent, output_type="latent" as the two-stage recipe calls it: the
    latent un-normalised with the VAE's statistics, upscaled, optionally matched back (AdaIN) and tone-mapped,
    normalised again. The decode noise of the small latent does not fit the new size, so it is dropped."""
    from diffusers import LTXLatentUpsamplePipeline

    samples = latent["samples"]
    channels = int(vae.module.config.latent_channels)
    takes = int(upsampler.module.config.in_channels)
    if takes != channels:
        raise DVInputError("latent_upsampler", f"this upscaler works on {takes}-channel latents, and the VAE's "
                           f"latents have {channels} channels (another VAE's upscaler).",
                           f"an upscaler made for this VAE ({channels} latent channels: the same LTX-Video release).")
    if int(samples.shape[1]) != channels:
        raise DVInputError("samples", f"the latent has {int(samples.shape[1])} channels, the VAE's {channels}.",
                           "a latent from DVSampler with an LTX-Video model of the same release as the VAE.")
    host.load_to_device([upsampler.managed, vae.managed])
    pipe = assemble(LTXLatentUpsamplePipeline, vae=vae.module, latent_upsampler=upsampler.module)
    pipe.set_progress_bar_config(disable=True)
    device = upsampler.managed.device
    out = pipe(latents=samples.to(device), adain_factor=adain_factor,
               tone_map_compression_ratio=tone_map_compression_ratio, output_type="latent").frames
    kept = {key: value for key, value in latent.items() if key not in ("samples", "dv_decode_noise")}
    return {**kept, "samples": out.to(host.intermediate_device())}
