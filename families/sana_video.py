"""Sana-Video (NVIDIA, MIT HAN Lab): text- and image-to-video with a Gemma2 text encoder, a linear-attention
flow-matching DiT (SanaVideoTransformer3DModel, 2x2 patches) and the Wan2.1 VAE.

One DiT makes video from text and from a first frame (the released 480p folder is loaded by both pipelines in
the diffusers guide), so the task follows the sampler's inputs: with an image, SanaImageToVideoPipeline keeps
the first latent frame clean (its timestep 0) and steps the others; without, SanaVideoPipeline. Prompts are
encoded as the pipelines' __call__ encodes them by default: lower-cased, with the pipeline's complex human
instruction prepended to the prompt, and the embeddings cut to max_sequence_length tokens. Sizes are used as
given (use_resolution_binning off: the binned size would change the latents' shape, and the pipeline only
resizes back its decoded frames). The Wan VAE with its latents mean/std decodes.

Only the Wan-VAE release (SANA-Video 2B 480p: 16 latent channels) runs here; the pipelines can also drive a
DC-AE or LTX-2 VAE (the 720p conversion), whose geometry and frame rule differ, and which are refused."""

from __future__ import annotations

import inspect
from typing import Any

from .. import host
from ..errors import DVInputError
from ..model_loaders.components import DVVAE, DVConditioning, DVModel, DVSchedulerSpec, DVTextEncoder
from ..samplers import decode as decode_util
from ..samplers.clip_text import T5_EMBED_KEYS, check_length
from ..samplers.pipeline import SampleInputs, SampleParams, assemble, denoisers_loaded, run_denoise
from ..samplers.validate import check_common, check_text_width, require_conditioning
from .spec import Family, FrameRule, LatentGeometry

WAN_VAE = "AutoencoderKLWan"
WAN_VAE_CHANNELS = 16

FAMILY = Family(
    id="sana_video",
    label="Sana-Video",
    pipeline_classes={"t2v": "SanaVideoPipeline", "i2v": "SanaImageToVideoPipeline"},
    model_classes=("SanaVideoTransformer3DModel",),
    vae_classes=(WAN_VAE,),
    text_encoder_classes=("Gemma2Model",),
    # The Wan VAE compresses time 4x: 4k+1 frames decode to as many frames (others would come out shorter).
    frame_rule=FrameRule(multiple=4, offset=1),
    # The Wan VAE's 8x times the DiT's 2x2 patches is 16, but SanaVideoPipeline.check_inputs demands 32.
    size_multiple=32,
    pipeline_size_multiple=32,
    geometry=LatentGeometry(spatial=8, temporal=4, channels=WAN_VAE_CHANNELS, scaling_factor=1.0),
    order=45,
    comfy_latent_format="Wan21",  # Wan2.1 VAE latents, normalised by its latents mean/std as Wan's are
    flow_matching=True,
    batched_cfg=True,  # the pipelines run the negative and positive passes as one batch
    # The guide's example: 832x480, 81 frames, guidance 6, 50 steps, exported at 16 fps; max_sequence_length is
    # the pipeline's default (300).
    defaults={"num_frames": 81, "fps": 16, "steps": 50, "guidance_scale": 6.0, "width": 832, "height": 480,
              "max_sequence_length": 300},
    # The diffusers Sana-Video guide (api/pipelines/sana_video.md) loads the pipeline with dtype=torch.bfloat16,
    # then `pipe.text_encoder.to(torch.bfloat16)` and `pipe.vae.to(torch.float32)` ("The text encoder and VAE
    # weights must stay in torch.bfloat16 or torch.float32"): the VAE in fp32, the rest the device's default.
    component_dtypes={"vae": "fp32"},
)

# The scheduler diffusers' conversion script (scripts/convert_sana_video_to_diffusers.py) saves by default:
# DPM-Solver++ on flow sigmas, flow_shift 8.0. Used when a model comes without its folder.
DEFAULT_SCHEDULER = DVSchedulerSpec.from_config_dict(
    "DPMSolverMultistepScheduler",
    {"num_train_timesteps": 1000, "prediction_type": "flow_prediction", "use_flow_sigmas": True,
     "flow_shift": 8.0},
    "Sana-Video default",
)


def _pipeline_class(task: str = "t2v"):
    import diffusers

    return getattr(diffusers, FAMILY.pipeline_classes[task])


def complex_human_instruction() -> list[str]:
    """The instruction SanaVideoPipeline.__call__ prepends to every prompt unless told otherwise (its default)."""
    default = inspect.signature(_pipeline_class().__call__).parameters["complex_human_instruction"].default
    return list(default or [])


def encode(te: DVTextEncoder, prompt: str, negative_prompt: str, max_sequence_length: int,
           truncate: bool) -> DVConditioning:
    """The pipeline's own encode_prompt, with the complex human instruction its __call__ uses by default. The
    prompt keeps max_sequence_length - 1 tokens of its own after the instruction (its first token is the
    instruction's <bos>); the negative prompt, encoded alone, max_sequence_length with its <bos>."""
    if te.tokenizer is None:
        raise DVInputError("text_encoder", "this text encoder came without its tokenizer.",
                           "load it from a diffusers folder that has a tokenizer subfolder.")
    instruction = complex_human_instruction()
    notes = check_length(te.tokenizer, {"prompt": prompt}, max_sequence_length - (1 if instruction else 0), truncate)
    notes += check_length(te.tokenizer, {"negative_prompt": negative_prompt}, max_sequence_length, truncate)
    host.load_to_device([te.managed])
    pipe = assemble(_pipeline_class(), tokenizer=te.tokenizer, text_encoder=te.module)
    outputs = pipe.encode_prompt(prompt, do_classifier_free_guidance=True, negative_prompt=negative_prompt,
                                 device=te.managed.device, max_sequence_length=max_sequence_length,
                                 complex_human_instruction=instruction)
    return DVConditioning(FAMILY, prompt, negative_prompt, dict(zip(T5_EMBED_KEYS, outputs, strict=True)), notes)


def _check_model(model: DVModel) -> None:
    channels = int(model.module.config.in_channels)
    if channels != WAN_VAE_CHANNELS:
        raise DVInputError("model", f"'{model.source}' works on {channels} latent channels: a Sana-Video release "
                           "for another VAE (DC-AE or LTX-2, the 720p conversions), which this pack does not run.",
                           f"a Sana-Video model on the Wan VAE ({WAN_VAE_CHANNELS} channels), such as "
                           "SANA-Video_2B_480p_diffusers.")


def _check_vae(vae: DVVAE | None, input_name: str = "vae") -> None:
    if vae is None:
        return
    if vae.family.id != FAMILY.id:
        raise DVInputError(input_name, f"this is a {vae.family.label} VAE, and the model is {FAMILY.label}.",
                           f"the VAE from the same {FAMILY.label} folder.")
    if type(vae.module).__name__ != WAN_VAE or int(vae.module.config.z_dim) != WAN_VAE_CHANNELS:
        raise DVInputError(input_name, f"this {FAMILY.label} VAE is a {type(vae.module).__name__}; this pack runs "
                           f"Sana-Video on the Wan2.1 VAE only.", f"a {FAMILY.label} folder with the Wan VAE "
                           f"({WAN_VAE}, {WAN_VAE_CHANNELS} channels), such as SANA-Video_2B_480p_diffusers.")


def _check_inputs(model: DVModel, params: SampleParams, inputs: SampleInputs) -> tuple[str, DVConditioning]:
    if inputs.video is not None:
        raise DVInputError("video", f"{FAMILY.label} takes no video.", "disconnect 'video'.")
    _check_model(model)
    task = "i2v" if inputs.image is not None else "t2v"
    if task == "i2v" and inputs.vae is None:
        raise DVInputError("vae", f"{FAMILY.label} image-to-video encodes the image with its VAE, and none "
                           "is wired in.", "the VAE from the same folder.")
    _check_vae(inputs.vae)
    cond = require_conditioning(model, inputs)
    patch = model.module.config.patch_size  # (t, h, w)
    check_common(model, cond, params, model.geometry.spatial * int(patch[1]))
    check_text_width(model, cond, int(model.module.config.caption_channels), "Gemma2 text encoder")
    return task, cond


def sample(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
           inputs: SampleInputs) -> dict[str, Any]:
    task, cond = _check_inputs(model, params, inputs)
    dtype, device = model.managed.dtype, model.managed.device
    call_kwargs: dict[str, Any] = {
        key: value.to(device=device, dtype=dtype if value.is_floating_point() else value.dtype)
        for key, value in cond.embeds.items()}
    call_kwargs.update(
        negative_prompt=None,  # the embeddings are given (the pipeline's default "" would clash with them)
        height=params.height, width=params.width, frames=params.num_frames,
        num_inference_steps=params.num_inference_steps, guidance_scale=params.guidance_scale,
        use_resolution_binning=False)
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
        # Geometry the pipeline reads from the VAE, which text-to-video sampling does not need.
        pipe.vae_scale_factor_spatial = model.geometry.spatial
        pipe.vae_scale_factor_temporal = model.geometry.temporal
    with denoisers_loaded(model, *others):
        latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, lambda x: x)
    return {"samples": latents.to(host.intermediate_device()), "dv_family": FAMILY.id,
            "dv_num_frames": params.num_frames}


def decode(vae: DVVAE, latent: dict[str, Any], settings: decode_util.DecodeSettings):
    """As SanaVideoPipeline does after sampling: its VAE is Wan2.1's, decoded exactly as WanPipeline decodes."""
    from . import wan

    _check_vae(vae)
    return wan.decode(vae, latent, settings)
