"""Helios (Peking University, ByteDance): long video made autoregressively, a chunk at a time. A Wan-style DiT
denoises chunks of 9 latent frames (33 frames), each conditioned on a compressed history of the frames before it
(long, mid and short windows), so text-, image- and video-to-video are one model: HeliosPipeline drives all
three. An image (DVSampler's `image`) is the first frame the video starts from; a video (`video`) is continued
(the new frames follow it; it needs at least one chunk's 33 frames). Prompts are UMT5 as Wan's.

The pipeline decodes each chunk as soon as it is made and keeps the frames, also when it is asked for latents;
DVSampler gives its VAE a decode that returns nothing for that run, so the frames are decoded once, by
DVVAEDecode, chunk by chunk as the pipeline decodes them. The frame count is whole chunks of 33 frames cut to
4k+1 (33, 65, 97, 129, 165, ...): the guide's num_frames=99 makes 97.

Helios-Base runs here; Helios-Mid and Helios-Distilled are HeliosPyramidPipeline folders (stage-wise
upsampling, another scheduler), which this pack does not run."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .. import host
from ..errors import DVInputError
from ..model_loaders.components import DVVAE, DVConditioning, DVModel, DVSchedulerSpec, DVTextEncoder
from ..samplers import decode as decode_util
from ..samplers.clip_text import encode_t5_with_pipeline
from ..samplers.pipeline import SampleInputs, SampleParams, assemble, denoisers_loaded, run_denoise
from ..samplers.validate import check_common, check_text_width, require_conditioning
from . import wan
from .spec import Family, FrameRule, LatentGeometry

CHUNK_LATENT_FRAMES = 9  # HeliosPipeline's num_latent_frames_per_chunk (its default, which the models use)
TEMPORAL = 4  # the Wan VAE's time compression


@dataclass(frozen=True)
class ChunkFrameRule(FrameRule):
    """Whole chunks of `window` frames, the total cut to 4k+1 as the pipeline cuts it. multiple/offset/minimum
    (what the editor's frame helper reads) say 32k+1, which is exact up to four chunks (129 frames)."""

    window: int = (CHUNK_LATENT_FRAMES - 1) * TEMPORAL + 1

    def frames_of(self, chunks: int) -> int:
        return (chunks * self.window - 1) // TEMPORAL * TEMPORAL + 1

    def chunks_for(self, n: int) -> int:
        """The chunks HeliosPipeline makes for num_frames n."""
        return max(1, math.ceil(n / self.window))

    def is_valid(self, n: int) -> bool:
        return n >= self.minimum and self.frames_of(self.chunks_for(n)) == n

    def nearest(self, n: int) -> list[int]:
        k = self.chunks_for(n)
        made = self.frames_of(k)
        pair = (made, self.frames_of(k + 1)) if made < n else (self.frames_of(k - 1) if k > 1 else 0, made)
        return [c for c in pair if c >= self.minimum]

    def describe(self) -> str:
        examples = ", ".join(str(self.frames_of(k)) for k in range(1, 6))
        return f"whole chunks of {self.window} frames cut to 4k+1 ({examples}, ...)"


FRAME_RULE = ChunkFrameRule(multiple=32, offset=1, minimum=33)

FAMILY = Family(
    id="helios",
    label="Helios",
    # Checked on 2 gloo ranks with the tiny model: the plan names the released 40 blocks one by one ("'2' is not a
    # submodule of 'ModuleList'" at another depth), and with that mended each chunk's sequence (its tokens and the
    # compressed history's) failed to split ("must be divisible by mesh size"): not proven, so refused.
    context_parallel_refusal="diffusers 0.42.1's Helios plan names its 40 released blocks one by one and its "
    "chunks carry history tokens the ranks do not share evenly (a split run failed on 2 ranks here)",
    pipeline_classes={"t2v": "HeliosPipeline"},
    model_classes=("HeliosTransformer3DModel",),
    vae_classes=("AutoencoderKLWan",),
    text_encoder_classes=("UMT5EncoderModel", "T5EncoderModel"),
    frame_rule=FRAME_RULE,
    size_multiple=16,
    pipeline_size_multiple=16,
    geometry=LatentGeometry(spatial=8, temporal=TEMPORAL, channels=16, scaling_factor=1.0),
    order=29,
    comfy_latent_format="Wan21",
    flow_matching=True,
    # The guide: 640x384 (the pipeline's default size), num_frames 99 (97 made), 50 steps, guidance 5, 24 fps.
    defaults={"num_frames": 97, "fps": 24, "steps": 50, "guidance_scale": 5.0, "width": 640, "height": 384,
              "max_sequence_length": 512},
    notes="Frames come in chunks of 33: 33, 65, 97, 129, 165, ... An image starts the video; a video (33 frames "
          "or more) is continued.",
    # The guide loads `AutoModel.from_pretrained(..., subfolder="vae", dtype=torch.float32)` beside a bf16
    # pipeline, and says Helios "uses a lot of mixed precision internally" (diffusers skips its fp16 test).
    component_dtypes={"vae": "fp32"},
    fp16_overflows=True,
)

# diffusers' test scheduler for Helios-Base: HeliosScheduler (UniPC on flow sigmas) in one stage, with the
# dynamic shift the pipeline computes from the chunk's size; for a model loaded without its folder.
DEFAULT_SCHEDULER = DVSchedulerSpec.from_config_dict(
    "HeliosScheduler", {"stage_range": [0, 1], "stages": 1, "use_dynamic_shifting": True}, "Helios default")


def _pipeline_class():
    from diffusers import HeliosPipeline

    return HeliosPipeline


def _pipeline(**components: Any):
    return assemble(_pipeline_class(), **components)


def encode(te: DVTextEncoder, prompt: str, negative_prompt: str, max_sequence_length: int,
           truncate: bool) -> DVConditioning:
    return encode_t5_with_pipeline(FAMILY, _pipeline, te, prompt, negative_prompt, max_sequence_length,
                                   truncate, ("prompt_embeds", "negative_prompt_embeds"))


def _check_inputs(model: DVModel, params: SampleParams, inputs: SampleInputs) -> tuple[str, DVConditioning]:
    if inputs.image is not None and inputs.video is not None:
        raise DVInputError("video", "both an image and a video are wired in.",
                           "an image to start the video from, or a video to continue; not both.")
    task = "v2v" if inputs.video is not None else "i2v" if inputs.image is not None else "t2v"
    if inputs.vae is None:
        raise DVInputError("vae", f"{FAMILY.label} decodes each chunk with its VAE while it samples (the next "
                           "chunk is conditioned on it), and none is wired in.", "the VAE from the same folder.")
    vae_channels = getattr(inputs.vae.module.config, "z_dim", None)
    if inputs.vae.family.id != FAMILY.id or vae_channels != int(model.module.config.out_channels):
        raise DVInputError("vae", f"this is a {inputs.vae.family.label} VAE with {vae_channels or '?'} latent "
                           f"channels; the {FAMILY.label} model works on {model.module.config.out_channels}.",
                           f"the VAE from the same {FAMILY.label} folder.")
    cond = require_conditioning(model, inputs)
    patch = model.module.config.patch_size  # (t, h, w)
    check_common(model, cond, params, model.geometry.spatial * int(patch[1]))
    if task == "v2v":
        frames = int(inputs.video.shape[0]) if hasattr(inputs.video, "shape") else 0
        if frames < FRAME_RULE.window:
            raise DVInputError("video", f"{frames} frames wired in; {FAMILY.label} continues a video from whole "
                               f"chunks of {FRAME_RULE.window} frames.",
                               f"a video of at least {FRAME_RULE.window} frames.")
    check_text_width(model, cond, int(model.module.config.text_dim), "UMT5 text encoder")
    return task, cond


@contextlib.contextmanager
def _frames_not_kept(vae_module: Any) -> Iterator[None]:
    """The pipeline decodes every chunk into frames it throws away when asked for latents: for this run its VAE
    decodes to an empty placeholder instead (the decode draws no random numbers, so nothing else changes)."""
    import torch

    def placeholder(latents, return_dict: bool = True):
        return (torch.zeros(latents.shape[0], 3, 1, 1, 1, device=latents.device, dtype=latents.dtype),)

    vae_module.decode = placeholder
    try:
        yield
    finally:
        vars(vae_module).pop("decode", None)


def sample(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
           inputs: SampleInputs) -> dict[str, Any]:
    from ..samplers.image_input import pipeline_frames, pipeline_image

    task, cond = _check_inputs(model, params, inputs)
    dtype, device = model.managed.dtype, model.managed.device
    call_kwargs: dict[str, Any] = {
        "prompt_embeds": cond.embeds["prompt_embeds"].to(device=device, dtype=dtype),
        "negative_prompt_embeds": cond.embeds["negative_prompt_embeds"].to(device=device, dtype=dtype),
        "height": params.height, "width": params.width, "num_frames": params.num_frames,
        "num_inference_steps": params.num_inference_steps, "guidance_scale": params.guidance_scale,
        "num_latent_frames_per_chunk": CHUNK_LATENT_FRAMES,
    }
    if task == "i2v":
        call_kwargs["image"] = pipeline_image("image", inputs.image, params.height, params.width, inputs.options)
    elif task == "v2v":
        call_kwargs["video"] = pipeline_frames("video", inputs.video, params.height, params.width, inputs.options)
    pipe = assemble(_pipeline_class(), model.pipeline_config, transformer=model.module, vae=inputs.vae.module,
                    scheduler=scheduler.create())
    # The VAE goes to the device also for text-to-video: the pipeline takes its device from its first module.
    with denoisers_loaded(model, inputs.vae.managed), _frames_not_kept(inputs.vae.module):
        latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, lambda x: x)
    return {"samples": latents.to(host.intermediate_device()), "dv_family": FAMILY.id,
            "dv_num_frames": params.num_frames, "dv_chunks": FRAME_RULE.chunks_for(params.num_frames),
            "dv_chunk_latent_frames": CHUNK_LATENT_FRAMES}


def decode(vae: DVVAE, latent: dict[str, Any], settings: decode_util.DecodeSettings):
    """As HeliosPipeline decodes: each chunk made by the run on its own (the image's or video's latents before
    them are context, not output), the frames joined and cut to 4k+1."""
    import torch

    samples = latent["samples"]
    chunk = int(latent.get("dv_chunk_latent_frames", CHUNK_LATENT_FRAMES))
    chunks = int(latent.get("dv_chunks", max(1, samples.shape[2] // chunk)) if samples.ndim == 5 else 0)
    if samples.ndim != 5 or samples.shape[2] < chunks * chunk or chunks < 1:
        raise DVInputError("samples", f"this latent ({tuple(samples.shape)}) does not hold the {chunks} chunk(s) "
                           f"of {chunk} latent frames a {FAMILY.label} run makes.", "the LATENT output of DVSampler.")
    made = samples[:, :, samples.shape[2] - chunks * chunk:]
    frames = torch.cat([wan.decode(vae, {**latent, "samples": made[:, :, i * chunk:(i + 1) * chunk]}, settings)
                        for i in range(chunks)], dim=0)
    return frames[: (frames.shape[0] - 1) // TEMPORAL * TEMPORAL + 1]
