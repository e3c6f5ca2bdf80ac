"""LTX-Video (Lightricks): text- and image-to-video with a T5 encoder, a flow-matching DiT on 1x1 patches of
a 32x-compressed latent, and a VAE whose decoder can be conditioned on a timestep with added noise.

LTX-Video glue: LTXPipeline / LTXImageToVideoPipeline for prompts and sampling; the VAE's timestep-
conditioned decode with the noise the pipeline would have drawn, for decoding."""

from __future__ import annotations

from typing import Any

from .. import host
from ..errors import DVInputError
from ..model_loaders.components import DVVAE, DVConditioning, DVModel, DVSchedulerSpec, DVTextEncoder
from ..samplers import decode as decode_util
from ..samplers.clip_text import T5_EMBED_KEYS, encode_t5_with_pipeline
from ..samplers.pipeline import SampleInputs, SampleParams, assemble, run_denoise
from ..samplers.validate import check_common, require_conditioning
from .spec import Family, FrameRule, LatentGeometry, OptionSpec


def _vae_geometry(cfg, default: LatentGeometry) -> LatentGeometry:
    """LTX-Video's VAE patchifies, then halves space and time once per scaling block."""
    if "spatio_temporal_scaling" not in cfg:
        return default
    steps = sum(bool(x) for x in cfg["spatio_temporal_scaling"])
    return LatentGeometry(spatial=int(cfg.get("patch_size", 1)) * 2**steps,
                          temporal=int(cfg.get("patch_size_t", 1)) * 2**steps,
                          channels=int(cfg.get("latent_channels", default.channels)),
                          scaling_factor=float(cfg.get("scaling_factor", default.scaling_factor)))


FAMILY = Family(
    id="ltx",
    label="LTX-Video",
    pipeline_classes={"t2v": "LTXPipeline", "i2v": "LTXImageToVideoPipeline"},
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


def encode(te: DVTextEncoder, prompt: str, negative_prompt: str, max_sequence_length: int,
           truncate: bool) -> DVConditioning:
    return encode_t5_with_pipeline(FAMILY, _pipeline, te, prompt, negative_prompt, max_sequence_length,
                                   truncate, T5_EMBED_KEYS)


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

    task, cond = _check_inputs(model, params, inputs)
    dtype, device = model.managed.dtype, model.managed.device
    call_kwargs = {key: value.to(device=device, dtype=dtype if value.is_floating_point() else value.dtype)
                   for key, value in cond.embeds.items()}
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
