"""SkyReels-V2 (Skywork): Wan-architecture text- and image-to-video, and diffusion forcing for long videos.

The DiT (SkyReelsV2Transformer3DModel) is Wan2.1's with per-frame timesteps; the text side (UMT5) and the VAE
(AutoencoderKLWan with its latents mean/std) are Wan2.1's, so encoding and decoding are Wan's own.

Which pipeline runs follows the model and the wired inputs:
- a text-to-video folder (SkyReelsV2Pipeline; 16 input channels): SkyReelsV2Pipeline;
- an image-to-video folder (36 input channels, a CLIP image encoder): SkyReelsV2ImageToVideoPipeline, with an
  optional last frame where the DiT is a first-last-frame one (pos_embed_seq_len);
- a diffusion-forcing folder (SkyReelsV2DiffusionForcingPipeline; the DiT config is the text-to-video one, so the
  folder's pipeline class is what tells them apart): SkyReelsV2DiffusionForcingPipeline from text,
  SkyReelsV2DiffusionForcingImageToVideoPipeline with an image (and optional last frame), and
  SkyReelsV2DiffusionForcingVideoToVideoPipeline with a video, which it extends.

Diffusion forcing makes videos longer than its window (`base_num_frames`) chunk by chunk, each chunk starting
from the last `overlap_history` frames of the one before; `ar_step` > 0 denoises the frames of a chunk
asynchronously in blocks of `causal_block_size` latent frames. These settings are DVSkyReelsV2Options widgets.
The progress bar counts the steps of every chunk, and an interrupt stops the run between chunks (and steps).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
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
from .spec import Family, FrameRule, LatentGeometry, OptionSpec, Variant

log = logging.getLogger("DiffusersVideo")

DF_PIPELINES = ("SkyReelsV2DiffusionForcingPipeline", "SkyReelsV2DiffusionForcingImageToVideoPipeline",
                "SkyReelsV2DiffusionForcingVideoToVideoPipeline")
CHANNELS = 16


def _is_diffusion_forcing_config(configs: Mapping[str, Any]) -> bool:
    return configs.get("pipeline", {}).get("_class_name") in DF_PIPELINES


def _is_i2v_config(configs: Mapping[str, Any]) -> bool:
    denoiser = configs.get("denoiser", {})
    return denoiser.get("in_channels", CHANNELS) != denoiser.get("out_channels", CHANNELS)


# The guide's values (api/pipelines/skyreels_v2.md): 544x960 at 540P, 97 frames, 24 fps; 30 steps, guidance 6.0
# (5.0 for image-to-video) with diffusion forcing; 50 steps, guidance 6.0 for the pipelines without it.
_DEFAULTS = {"num_frames": 97, "fps": 24, "steps": 50, "guidance_scale": 6.0, "width": 960, "height": 544,
             "max_sequence_length": 512}

FAMILY = Family(
    id="skyreels_v2",
    label="SkyReels-V2",
    pipeline_classes={"t2v": "SkyReelsV2Pipeline", "i2v": "SkyReelsV2ImageToVideoPipeline",
                      "df": DF_PIPELINES[0], "df_i2v": DF_PIPELINES[1], "df_v2v": DF_PIPELINES[2]},
    model_classes=("SkyReelsV2Transformer3DModel",),
    vae_classes=("AutoencoderKLWan",),
    text_encoder_classes=("UMT5EncoderModel", "T5EncoderModel"),
    frame_rule=FrameRule(multiple=4, offset=1),  # the Wan VAE compresses time 4x
    size_multiple=16,
    pipeline_size_multiple=16,  # the pipelines' check_inputs: "divisible by 16"
    geometry=LatentGeometry(spatial=8, temporal=4, channels=CHANNELS, scaling_factor=1.0),
    order=21,
    # SkyReels-V2 files keep Wan's key layout, which diffusers' detection calls Wan: a SkyReels-V2 config folder
    # makes them this family (Wan, ordered first, takes them without one).
    single_file_types={"wan-t2v": "SkyReelsV2Transformer3DModel", "wan-i2v": "SkyReelsV2Transformer3DModel"},
    # diffusers converts SkyReelsV2Transformer3DModel files with Wan's converter, which does not know the keys
    # only SkyReels-V2 has (its conversion script renames them): DF-1.3B's fps conditioning, FLF2V's positions.
    single_file_key_renames={"fps_projection.0.": "fps_projection.net.0.proj.",
                             "fps_projection.2.": "fps_projection.net.2.",
                             "img_emb.emb_pos": "condition_embedder.image_embedder.pos_embed"},
    comfy_latent_format="Wan21",
    flow_matching=True,
    defaults=_DEFAULTS,
    variants=(
        Variant("skyreels-v2-df", _is_diffusion_forcing_config, {
            "label": "SkyReels-V2 Diffusion Forcing", "defaults": {**_DEFAULTS, "steps": 30}}),
        Variant("skyreels-v2-i2v", _is_i2v_config, {
            "label": "SkyReels-V2 I2V", "defaults": {**_DEFAULTS, "guidance_scale": 5.0}}),
        Variant("skyreels-v2-t2v", lambda configs: True, {"label": "SkyReels-V2 T2V"}),
    ),
    options=(
        OptionSpec("base_num_frames", "INT", 97, "Diffusion forcing: the frames made in one chunk (the model's "
                   "window: 97 for 540P, 121 for 720P). A longer num_frames is made chunk after chunk; 4k+1.",
                   5, 1025, 4),
        OptionSpec("overlap_history", "INT", 17, "Diffusion forcing: how many frames of the previous chunk (or of "
                   "the video being extended) each next chunk starts from (17 or 37 recommended); 4k+1, fewer "
                   "than base_num_frames.", 1, 1025, 4),
        OptionSpec("addnoise_condition", "FLOAT", 20.0, "Diffusion forcing: noise added to the overlapping frames "
                   "a chunk starts from, for smoother chunk joins (20 recommended, above 50 the chunks drift; 0: "
                   "none).", 0.0, 100.0, 1.0),
        OptionSpec("ar_step", "INT", 0, "Diffusion forcing: 0 denoises all frames of a chunk together; > 0 "
                   "denoises blocks of frames in turn, each this many steps behind the one before (5 with "
                   "causal_block_size 5 in the guide: slower, more consistent).", 0, 100, 1),
        OptionSpec("causal_block_size", "INT", 0, "Diffusion forcing: latent frames per block for ar_step > 0 "
                   "(5 recommended); 0 keeps the model's own (num_frame_per_block).", 0, 64, 1),
        OptionSpec("fps", "INT", 24, "Diffusion forcing: the frame rate the DiT is told (16 or 24; the 1.3B "
                   "release embeds it). Set the same fps on the video combiner.", 1, 120, 1),
        OptionSpec("last_image", "IMAGE", None, "Image-to-video: the last frame, with the first in DVSampler's "
                   "'image' (a diffusion-forcing model, or a first-last-frame image-to-video one). Same size as the "
                   "first frame."),
    ),
    options_node="DVSkyReelsV2Options",
    # The diffusers SkyReels-V2 guide loads `vae = AutoModel.from_pretrained(model_id, subfolder="vae",
    # dtype=torch.float32)` beside a bf16 pipeline, as Wan's does; the CLIP image encoder as Wan's.
    component_dtypes={"vae": "fp32", "image_encoder": "fp32"},
    fp16_overflows=True,  # Wan's DiT: its activations overflow in fp16 (see families/wan.py)
)

# The scheduler diffusers' conversion script saves (UniPC on flow sigmas), with the guide's flow_shift 8.0 for
# text-to-video (5.0 for image-to-video: DVScheduler).
DEFAULT_SCHEDULER = DVSchedulerSpec.from_config_dict(
    "UniPCMultistepScheduler",
    {"num_train_timesteps": 1000, "prediction_type": "flow_prediction", "use_flow_sigmas": True, "flow_shift": 8.0},
    "SkyReels-V2 T2V default",
)

DF_OPTIONS = ("base_num_frames", "overlap_history", "addnoise_condition", "ar_step", "causal_block_size", "fps")
OPTION_DEFAULTS = {spec.name: spec.default for spec in FAMILY.options}


def _pipeline_class(task: str = "t2v"):
    import diffusers

    return getattr(diffusers, FAMILY.pipeline_classes[task])


def _pipeline(**components: Any):
    return assemble(_pipeline_class(), **components)


def encode(te: DVTextEncoder, prompt: str, negative_prompt: str, max_sequence_length: int,
           truncate: bool) -> DVConditioning:
    return encode_t5_with_pipeline(FAMILY, _pipeline, te, prompt, negative_prompt, max_sequence_length,
                                   truncate, ("prompt_embeds", "negative_prompt_embeds"))


def is_diffusion_forcing(model: DVModel) -> bool:
    """A diffusion-forcing release: its folder is saved as a diffusion-forcing pipeline (the DiT config alone
    does not tell it from the text-to-video release)."""
    return _is_diffusion_forcing_config({"pipeline": model.pipeline_config})


def _option(inputs: SampleInputs, name: str) -> Any:
    return inputs.option(name, OPTION_DEFAULTS[name])


def _check_task(model: DVModel, params: SampleParams, inputs: SampleInputs) -> str:
    """The pipeline the model and the wired inputs call for: "t2v", "i2v", "df", "df_i2v" or "df_v2v"."""
    label, last = model.family.label, _option(inputs, "last_image")
    if inputs.image is not None and inputs.video is not None:
        raise DVInputError("video", "both an image and a video are wired in.", "an image to start a video from, "
                           "or a video to extend (with a diffusion-forcing model); not both.")
    if last is not None and inputs.image is None:
        raise DVInputError("last_image", "DVSkyReelsV2Options' last_image is wired, but no first frame is wired into "
                           "DVSampler's 'image'.", "the first frame (an IMAGE) into 'image', or disconnect "
                           "'last_image'.")
    if is_diffusion_forcing(model):
        task = "df_v2v" if inputs.video is not None else "df_i2v" if inputs.image is not None else "df"
    else:
        if inputs.video is not None:
            raise DVInputError("video", f"'{model.source}' is a {label} model without diffusion forcing, which "
                               "cannot extend a video.", "a SkyReels-V2 diffusion-forcing model (SkyReels-V2-DF-*), "
                               "or disconnect 'video'.")
        for name in DF_OPTIONS:
            if _option(inputs, name) != OPTION_DEFAULTS[name]:
                raise DVInputError("options", f"DVSkyReelsV2Options sets {name} {_option(inputs, name)}, a "
                                   f"diffusion-forcing setting, and '{model.source}' is a {label} model without "
                                   "diffusion forcing, which would ignore it.",
                                   f"{name} back at {OPTION_DEFAULTS[name]}, or a SkyReels-V2-DF model.")
        if inputs.image is None:
            if not wan.takes_text_alone(model):
                raise DVInputError("image", f"'{model.source}' is a {label} model, and no image is wired in.",
                                   "the first frame (an IMAGE) into 'image'.")
            task = "t2v"
        else:
            if wan.takes_text_alone(model):
                raise DVInputError("image", f"'{model.source}' is a {label} model; it cannot start from an image.",
                                   "a SkyReels-V2 image-to-video or diffusion-forcing model, or disconnect 'image'.")
            if last is not None and not wan.is_first_last_frame(model):
                raise DVInputError("last_image", f"'{model.source}' is an image-to-video model trained on a first "
                                   "frame only.", "a SkyReels-V2 diffusion-forcing model (which takes a last frame), "
                                   "or disconnect 'last_image'.")
            for role in ("image_encoder", "image_processor"):
                if role not in model.companions:
                    raise DVInputError("model", f"this image-to-video model came without its {role}.",
                                       "load it with DVPipelineLoader from its diffusers folder.")
            task = "i2v"
    if task not in ("t2v", "df") and inputs.vae is None:
        what = "video" if task == "df_v2v" else "image"
        raise DVInputError("vae", f"{label} encodes the {what} with its VAE, and none is wired in.",
                           "the VAE from the same folder.")
    if last is not None:
        first_size = (int(inputs.image.shape[2]), int(inputs.image.shape[1]))
        last_size = (int(last.shape[2]), int(last.shape[1]))
        if first_size != last_size:
            raise DVInputError("last_image", f"the last frame is {last_size[0]}x{last_size[1]}, the first "
                               f"{first_size[0]}x{first_size[1]}.", f"a last frame of {first_size[0]}x"
                               f"{first_size[1]} (resize or crop it first).")
    return task


def _check_vae(vae: DVVAE | None) -> None:
    if vae is None:
        return
    if vae.family.id != FAMILY.id or getattr(vae.module.config, "z_dim", None) != CHANNELS:
        raise DVInputError("vae", f"this is a {vae.family.label} VAE, and the model is {FAMILY.label}.",
                           "the VAE (AutoencoderKLWan) from the same SkyReels-V2 folder.")


@dataclass(frozen=True)
class Chunk:
    latent_frames: int  # latent frames this chunk denoises, its prefix included
    prefix: int  # leading latent frames it starts from, already clean (previous chunk, image or video)
    window: int  # the base_num_latent_frames the pipeline gives its step matrix
    steps: int  # rows of its step matrix: the denoising steps it runs


def _frames_option(inputs: SampleInputs, name: str) -> int:
    value = int(_option(inputs, name))
    if value < 1 or (value - 1) % FAMILY.geometry.temporal:
        below = max((value - 1) // 4 * 4 + 1, 1)
        raise DVInputError("options", f"{name} {value} does not map onto whole latent frames of the Wan VAE "
                           "(which compresses 4 frames into one after the first).",
                           f"{name} 4k+1 on DVSkyReelsV2Options, e.g. {below} or {below + 4}.")
    return value


def _chunk_plan(pipe, task: str, params: SampleParams, inputs: SampleInputs, cbs: int) -> list[Chunk]:
    """The chunks the pipeline will run, by its own arithmetic (its __call__ and prepare_latents), and each
    chunk's step count from its own generate_timestep_matrix: checked before any work, and counted for the
    progress bar. Raises DVInputError for settings the pipeline would fail on (or quietly mangle) mid-run."""
    import math

    from ..samplers.image_input import check_frames

    t = FAMILY.geometry.temporal
    num_frames = params.num_frames
    base = _frames_option(inputs, "base_num_frames")
    overlap = _frames_option(inputs, "overlap_history")
    ar_step = int(_option(inputs, "ar_step"))
    latent_total = (num_frames - 1) // t + 1
    base_latent, overlap_latent = (base - 1) // t + 1, (overlap - 1) // t + 1
    long_run = task == "df_v2v" or num_frames > base
    if task == "df_v2v":
        check_frames("video", inputs.video)
        given = int(inputs.video.shape[0])
        if given < overlap:
            raise DVInputError("video", f"the video has {given} frames; each extension starts from its last "
                               f"overlap_history ({overlap}).", f"a video of at least {overlap} frames, or "
                               f"overlap_history at most {max((given - 1) // 4 * 4 + 1, 1)}.")
        if num_frames <= overlap:
            raise DVInputError("num_frames", f"num_frames {num_frames} is no more than overlap_history {overlap}: "
                               "the extension would add no frame (num_frames counts the overlap too).",
                               f"num_frames of at least {overlap + t}.")
    if long_run and overlap >= base:
        raise DVInputError("options", f"overlap_history {overlap} is not below base_num_frames {base}: a chunk "
                           "would be all overlap and the video would never grow.",
                           f"overlap_history below {base} (17 or 37), or a larger base_num_frames.")
    has_last = task == "df_i2v" and _option(inputs, "last_image") is not None
    if has_last and long_run:
        # The pipeline appends the last frame's latent to the last chunk but sizes that chunk's step matrix by
        # the chunk's overlap instead of that one frame: only a single-chunk run comes out right.
        raise DVInputError("last_image", f"a last frame with a video longer than one chunk ({num_frames} frames, "
                           f"base_num_frames {base}).", f"num_frames at most base_num_frames ({base}), or "
                           "disconnect 'last_image'.")
    pipe.scheduler.set_timesteps(params.num_inference_steps, device="cpu")
    template = pipe.scheduler.timesteps
    if long_run:
        n_iter = 1 + (latent_total - base_latent - 1) // (base_latent - overlap_latent) + 1
    else:
        n_iter, base_latent = 1, latent_total
    overlap_prefix = overlap_latent - overlap_latent % cbs  # the pipeline cuts it to whole causal blocks
    chunks = []
    for k in range(n_iter):
        if k == 0 and task != "df_v2v":
            frames = base_latent if long_run else latent_total
            prefix = 1 if task == "df_i2v" else 0
        else:
            done = k * (base_latent - overlap_latent) + overlap_latent
            frames = min(latent_total - done + overlap_latent, base_latent)
            prefix = overlap_prefix
        window = frames if task in ("df", "df_v2v") and long_run else base_latent
        if has_last and k == n_iter - 1:
            frames, window = frames + 1, window + 1  # the last frame's latent joins the last chunk
        if frames % cbs:
            raise DVInputError("options", f"chunk {k + 1} of {n_iter} has {frames} latent frames, not a whole number "
                               f"of causal blocks of {cbs}: its last frames would never be denoised.",
                               "causal_block_size 0 or 1, or num_frames/base_num_frames/overlap_history whose latent "
                               f"frames ((frames - 1) / 4 + 1) divide into blocks of {cbs}.")
        try:
            matrix = pipe.generate_timestep_matrix(frames, template, window, ar_step, prefix, cbs)[0]
        except ValueError as error:
            need = math.ceil(len(template) / max(window // cbs, 1))
            raise DVInputError("options", f"ar_step {ar_step} is too small for this run ({error}).",
                               f"ar_step of at least {need}, or ar_step 0 (synchronous).") from None
        chunks.append(Chunk(frames, prefix, window, len(matrix)))
    return chunks


def _announcing_chunks(pipe, chunks: list[Chunk]) -> None:
    """The pipeline builds one step matrix per chunk as it starts it: log the chunk there, and let an interrupt
    stop the run at that point too, between one chunk's last step and the next one's first."""
    build = pipe.generate_timestep_matrix
    started = [0]

    def next_chunk(*args, **kwargs):
        host.check_interrupt()
        started[0] += 1
        if len(chunks) > 1:
            log.info("DiffusersVideo: SkyReels-V2 chunk %d/%d (%d steps)", started[0], len(chunks),
                     chunks[min(started[0], len(chunks)) - 1].steps)
        return build(*args, **kwargs)

    pipe.generate_timestep_matrix = next_chunk


def sample(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
           inputs: SampleInputs) -> dict[str, Any]:
    task = _check_task(model, params, inputs)
    _check_vae(inputs.vae)
    cond = require_conditioning(model, inputs)
    patch = model.module.config.patch_size  # (t, h, w)
    check_common(model, cond, params, model.geometry.spatial * int(patch[1]))
    check_text_width(model, cond, int(model.module.config.text_dim), "UMT5 text encoder")
    tokens = int(cond.embeds["prompt_embeds"].shape[1])
    if task == "i2v" and model.module.config.added_kv_proj_dim is not None and tokens != wan.I2V_TEXT_TOKENS:
        raise DVInputError("conditioning", f"the prompt was encoded to {tokens} tokens; SkyReels-V2 image-to-video "
                           f"tells text from image tokens by position and needs exactly {wan.I2V_TEXT_TOKENS}.",
                           f"max_sequence_length {wan.I2V_TEXT_TOKENS} on DVTextEncode.")
    from ..samplers.image_input import pipeline_frames, pipeline_image

    dtype, device = model.managed.dtype, model.managed.device
    call_kwargs: dict[str, Any] = {
        "prompt": None,  # the diffusion-forcing pipeline's prompt has no default; the embeddings stand for it
        "prompt_embeds": cond.embeds["prompt_embeds"].to(device=device, dtype=dtype),
        "negative_prompt_embeds": cond.embeds["negative_prompt_embeds"].to(device=device, dtype=dtype),
        "height": params.height, "width": params.width, "num_frames": params.num_frames,
        "num_inference_steps": params.num_inference_steps, "guidance_scale": params.guidance_scale,
    }
    others = [] if task in ("t2v", "df") else [inputs.vae.managed]
    components: dict[str, Any] = {"transformer": model.module, "scheduler": scheduler.create()}
    if task != "df" and task != "t2v":
        components["vae"] = inputs.vae.module
    if task == "i2v":
        others += model.managed_companions()
        components.update(image_encoder=model.companions["image_encoder"].module,
                          image_processor=model.companions["image_processor"])
    pipe = assemble(_pipeline_class(task), model.pipeline_config, **components)
    if "vae" not in components:
        # Geometry the pipeline reads from the VAE, which sampling from text does not need.
        pipe.vae_scale_factor_spatial = model.geometry.spatial
        pipe.vae_scale_factor_temporal = model.geometry.temporal
    if inputs.image is not None:
        call_kwargs["image"] = pipeline_image("image", inputs.image, params.height, params.width, inputs.options)
        if _option(inputs, "last_image") is not None:
            call_kwargs["last_image"] = pipeline_image("last_image", _option(inputs, "last_image"), params.height,
                                                       params.width, inputs.options)
    result: dict[str, Any] = {"dv_family": FAMILY.id, "dv_num_frames": params.num_frames}
    total_steps = None
    block = int(_option(inputs, "causal_block_size"))
    own_block = int(model.module.config.num_frame_per_block)
    if task.startswith("df"):
        chunks = _chunk_plan(pipe, task, params, inputs, block or own_block)
        total_steps = sum(chunk.steps for chunk in chunks)
        _announcing_chunks(pipe, chunks)
        call_kwargs.update(base_num_frames=int(_option(inputs, "base_num_frames")),
                           overlap_history=int(_option(inputs, "overlap_history")),
                           addnoise_condition=float(_option(inputs, "addnoise_condition")),
                           ar_step=int(_option(inputs, "ar_step")), causal_block_size=block or None,
                           fps=int(_option(inputs, "fps")))
    if task == "df_v2v":
        video = pipeline_frames("video", inputs.video, params.height, params.width, inputs.options)
        call_kwargs["video"] = video
        result["dv_prefix_frames"] = _as_pipeline_sees_it(pipe, video, params)
    try:
        with denoisers_loaded(model, *others):
            latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, lambda x: x,
                                  total_steps=total_steps, clean_previews=not task.startswith("df"))
    finally:
        if block and int(model.module.config.num_frame_per_block) != own_block:
            # The pipeline writes a causal_block_size into the DiT's config; the loaded model keeps its own.
            model.module.register_to_config(num_frame_per_block=own_block)
    if task == "df_i2v" and "last_image" in call_kwargs:
        # The last frame's latent rides at the end of the run; the pipeline drops it before decoding.
        latents = latents[:, :, :-1]
    return {"samples": latents.to(host.intermediate_device()), **result}


def _as_pipeline_sees_it(pipe, video: list, params: SampleParams):
    """The input video as the extension pipeline puts it in front of its output: resized by its own
    VideoProcessor, as IMAGE frames."""
    frames = pipe.video_processor.preprocess_video(video, height=params.height, width=params.width)
    return decode_util.to_image(pipe.video_processor, frames.float())


def decode(vae: DVVAE, latent: dict[str, Any], settings: decode_util.DecodeSettings):
    """As the SkyReels-V2 pipelines decode, which is WanPipeline's decode; a video extension (diffusion forcing
    from a video) comes out after the video it extends, as SkyReelsV2DiffusionForcingVideoToVideoPipeline returns
    it."""
    import torch

    _check_vae(vae)
    frames = wan.decode(vae, latent, settings)
    prefix = latent.get("dv_prefix_frames")
    if prefix is None:
        return frames
    return torch.cat([prefix.to(frames.device, frames.dtype), frames], dim=0)
