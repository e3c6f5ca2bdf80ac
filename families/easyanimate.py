"""EasyAnimate V5.1 (Alibaba PAI): text-to-video, image-to-video / video inpainting and control-to-video with a
Qwen2-VL text encoder, an MMDiT (EasyAnimateTransformer3DModel, 2x2 patches) and the Magvit causal 3D VAE.

Three releases, three diffusers pipelines, told apart by the folder's pipeline class (else by the transformer's
input channels):
- text-to-video (EasyAnimateV5.1-12b-zh): EasyAnimatePipeline, from text alone.
- control (-Control): EasyAnimateControlPipeline. The control frames (pose, depth, edges...) come through
  DVSampler's 'video', one per output frame, as CogVideoX-Fun control takes them; an IMAGE in DVSampler's
  'image' is the pipeline's `ref_image` (its latents in the first latent frame).
- inpaint (-InP): EasyAnimateInpaintPipeline. A first frame in DVSampler's 'image' (and optionally a last frame
  in DVEasyAnimateOptions' last_image) is image-to-video, laid out as the guide's `get_image_to_video_latent`
  does; a video in DVSampler's 'video' with a mask in DVEasyAnimateOptions' mask (white repaints) inpaints it;
  nothing wired is text-to-video on the InP model, as the guide lists it.
Conditioning frames are made as the diffusers guide makes them (its `get_*_latent` helpers, on PIL images).

Two bugs of diffusers 0.42.1's pipelines (also on diffusers' main branch, issue huggingface/diffusers#13638) are
worked around on the pipeline object the node builds, without changing what the pipeline computes:
EasyAnimateControlPipeline.__call__ passes `text_encoder_index=0` to its own encode_prompt, which takes no such
argument (TypeError on every call), and decodes through a `decode_latents` it no longer has (the nodes decode
as EasyAnimatePipeline does, which is what that method did); EasyAnimateInpaintPipeline reads
`vae.config.cache_mag_vae`, which AutoencoderKLMagvit does not declare, so a VAE config without that key fails
at inpainting: the key is supplied for the call as True, which is what diffusers' Magvit does (it encodes the
first frame on its own, then 4 frames per latent frame).
"""

from __future__ import annotations

import contextlib
import logging
from types import SimpleNamespace
from typing import Any

from .. import host
from ..errors import DVInputError
from ..model_loaders.components import DVVAE, DVConditioning, DVModel, DVSchedulerSpec, DVTextEncoder
from ..samplers import decode as decode_util
from ..samplers.pipeline import SampleInputs, SampleParams, assemble, denoisers_loaded, run_denoise
from ..samplers.validate import check_common, check_text_width, require_conditioning
from .spec import Family, FrameRule, LatentGeometry, OptionSpec

MAGVIT = "AutoencoderKLMagvit"
NOISE_AUG_DEFAULT = 0.0563  # EasyAnimateInpaintPipeline.__call__'s default


def _magvit_geometry(cfg, default: LatentGeometry) -> LatentGeometry:
    """AutoencoderKLMagvit halves space in every block but the first and time in every block but the first two."""
    blocks = len(cfg.get("block_out_channels", ())) or 4
    return LatentGeometry(spatial=2 ** (blocks - 1), temporal=2 ** (blocks - 2),
                          channels=int(cfg.get("latent_channels", default.channels)),
                          scaling_factor=float(cfg.get("scaling_factor", default.scaling_factor)))


FAMILY = Family(
    id="easyanimate",
    label="EasyAnimate",
    pipeline_classes={"t2v": "EasyAnimatePipeline", "control": "EasyAnimateControlPipeline",
                      "inpaint": "EasyAnimateInpaintPipeline"},
    model_classes=("EasyAnimateTransformer3DModel",),
    vae_classes=(MAGVIT,),
    # V5.1 prompts go through Qwen2-VL's chat template; the BERT encoder the pipelines also accept (older
    # releases) has no chat template, which their encode_prompt needs.
    text_encoder_classes=("Qwen2VLForConditionalGeneration",),
    # The Magvit VAE encodes the first frame alone and then 4 frames per latent frame: 4k+1 frames.
    frame_rule=FrameRule(multiple=4, offset=1),
    size_multiple=16,  # VAE 8 x patch 2
    pipeline_size_multiple=16,  # check_inputs: "`height` and `width` have to be divisible by 16"
    geometry=LatentGeometry(spatial=8, temporal=4, channels=16, scaling_factor=0.7125),
    vae_geometry=_magvit_geometry,
    order=58,
    comfy_latent_format=None,  # ComfyUI has no Magvit latent format: no previews
    flow_matching=True,
    batched_cfg=True,  # the pipelines run the negative and positive passes as one batch
    # The guide's text-to-video example: 512x512, guidance 6, 50 steps, exported at 8 fps; 49 frames (the
    # pipelines' default and V5.1's longest); max_sequence_length is encode_prompt's fixed 256.
    defaults={"num_frames": 49, "fps": 8, "steps": 50, "guidance_scale": 6.0, "width": 512, "height": 512,
              "max_sequence_length": 256},
    # The diffusers EasyAnimate guide (api/pipelines/easyanimate.md) loads every checkpoint whole in one dtype
    # ("recommended inference dtype: torch.float16"; its examples pass torch_dtype=torch.float16 or bfloat16), so
    # no role gets one of its own.
    component_dtypes={},
    options=(
        OptionSpec("last_image", "IMAGE", None, "InP models: the last frame, with the first in DVSampler's 'image' "
                   "(the guide's validation_image_end)."),
        OptionSpec("mask", "MASK", None, "InP models: where to repaint (white, 1) and where to keep (black, 0) the "
                   "video wired into DVSampler's 'video'. One mask for every frame or one per frame, the video's "
                   "size."),
        OptionSpec("noise_aug_strength", "FLOAT", NOISE_AUG_DEFAULT, "InP models: noise added to the kept frames "
                   "before they are encoded (the pipeline's default 0.0563).", 0.0, 1.0, 0.0001),
    ),
    options_node="DVEasyAnimateOptions",
    notes="Control: one control frame per output frame in DVSampler's 'video', and an optional reference image in "
    "'image'. InP: a first frame in 'image' (a last frame in DVEasyAnimateOptions), or a video in 'video' with "
    "a mask in DVEasyAnimateOptions. V5.1 was trained on up to 49 frames.",
)

log = logging.getLogger("DiffusersVideo")

# The released V5.1 folders' scheduler (FlowMatch Euler, diffusers' defaults): used without a folder.
DEFAULT_SCHEDULER = DVSchedulerSpec.from_config_dict(
    "FlowMatchEulerDiscreteScheduler", {"num_train_timesteps": 1000, "shift": 1.0}, "EasyAnimate default")
EMBED_KEYS = ("prompt_embeds", "negative_prompt_embeds", "prompt_attention_mask", "negative_prompt_attention_mask")


def _pipeline_class(task: str):
    import diffusers

    return getattr(diffusers, FAMILY.pipeline_classes[task])


# ------------------------------------------------------------------------------------------- encode


def _chat_text(tokenizer, text: str) -> str:
    """The prompt as encode_prompt wraps it: one user message through the tokenizer's chat template."""
    message = {"role": "user", "content": [{"type": "text", "text": text}]}
    return tokenizer.apply_chat_template([message], tokenize=False, add_generation_prompt=True)


def encode(te: DVTextEncoder, prompt: str, negative_prompt: str, max_sequence_length: int,
           truncate: bool) -> DVConditioning:
    """The pipeline's own encode_prompt: the chat-templated prompt, padded to max_sequence_length tokens, the
    Qwen2-VL's second-to-last hidden states and the attention mask."""
    if te.tokenizer is None:
        raise DVInputError("text_encoder", "this text encoder came without its tokenizer.",
                           "load it from a diffusers folder that has a tokenizer subfolder.")
    if getattr(te.module.config, "model_type", "") != "qwen2_vl" or not getattr(te.tokenizer, "chat_template", None):
        raise DVInputError("text_encoder", f"{FAMILY.label} V5.1 prompts go through a Qwen2-VL text encoder and its "
                           f"tokenizer's chat template; this is a {type(te.module).__name__}"
                           + ("" if getattr(te.tokenizer, "chat_template", None) else " without a chat template") + ".",
                           "the text encoder of an EasyAnimateV5.1 folder (DVPipelineLoader's text_encoder output).")
    notes = []
    for input_name, text in (("prompt", prompt), ("negative_prompt", negative_prompt)):
        count = len(te.tokenizer(_chat_text(te.tokenizer, text)).input_ids)
        if count <= max_sequence_length:
            continue
        if not truncate:
            raise DVInputError(input_name, f"{count} tokens with the chat template, over max_sequence_length "
                               f"{max_sequence_length}.", f"at most {max_sequence_length} tokens, a larger "
                               "max_sequence_length, or turn truncate_long_prompt on.")
        message = (f"DVTextEncode: input '{input_name}': {count} tokens with the chat template, over "
                   f"{max_sequence_length}; the end is cut off.")
        log.warning(message)
        notes.append(message)
    host.load_to_device([te.managed])
    pipe = assemble(_pipeline_class("t2v"), tokenizer=te.tokenizer, text_encoder=te.module)
    outputs = pipe.encode_prompt(prompt, do_classifier_free_guidance=True, negative_prompt=negative_prompt,
                                 device=te.managed.device, max_sequence_length=max_sequence_length)
    return DVConditioning(FAMILY, prompt, negative_prompt, dict(zip(EMBED_KEYS, outputs, strict=True)), notes)


# ------------------------------------------------------------------------------------------- sample


def model_kind(model: DVModel) -> str:
    """"t2v", "control" or "inpaint": the folder's pipeline class where it has one, else the transformer's
    input channels (noise; + mask and masked video for InP; + control and reference latents for control)."""
    from .cogvideox import _folder_pipeline_class

    folder = _folder_pipeline_class(model)
    for kind, name in FAMILY.pipeline_classes.items():
        if folder == name:
            return kind
    config = model.module.config
    channels, latent = int(config.in_channels), int(config.out_channels)
    if channels == latent:
        return "t2v"
    if channels == 2 * latent + 1 or (channels == 3 * latent and not config.resize_inpaint_mask_directly):
        return "inpaint"
    return "control"


def _wired(inputs: SampleInputs, name: str) -> Any:
    return (inputs.options or {}).get(name)


def _mask_frames(mask) -> int:
    return 1 if mask.ndim == 2 else int(mask.shape[0])


def _check_task(model: DVModel, params: SampleParams, inputs: SampleInputs) -> str:
    """What the run is: "t2v", "control", "i2v" or "inpaint" (the last two on an InP model)."""
    kind, label = model_kind(model), model.family.label
    last, mask = _wired(inputs, "last_image"), _wired(inputs, "mask")
    if kind != "inpaint":
        for name, value in (("last_image", last), ("mask", mask)):
            if value is not None:
                raise DVInputError(name, f"DVEasyAnimateOptions' {name} is for {label} InP models, and "
                                   f"'{model.source}' is a {kind} model.",
                                   f"disconnect '{name}', or an EasyAnimate InP model (EasyAnimateV5.1-12b-zh-InP).")
        strength = float(inputs.option("noise_aug_strength", NOISE_AUG_DEFAULT))
        if strength != NOISE_AUG_DEFAULT:
            raise DVInputError("options", f"the options set noise_aug_strength {strength}, which only {label} InP "
                               f"models take, and '{model.source}' is a {kind} model.",
                               f"noise_aug_strength back at its default {NOISE_AUG_DEFAULT}, or an InP model.")
    if kind == "t2v":
        for name, value in (("image", inputs.image), ("video", inputs.video)):
            if value is not None:
                raise DVInputError(name, f"'{model.source}' is a {label} text-to-video model; it takes no {name}.",
                                   f"disconnect '{name}', or an EasyAnimate InP model (image or video inpainting) "
                                   "or Control model (control video).")
        return "t2v"
    if kind == "control":
        if inputs.video is None:
            raise DVInputError("video", f"'{model.source}' is a {label} control model and needs a control video.",
                               f"{params.num_frames} control frames (pose, depth, edges...) as an IMAGE wired into "
                               "'video'.")
        _check_length("video", int(inputs.video.shape[0]), params.num_frames, "control frames")
        return "control"
    if inputs.image is not None and inputs.video is not None:
        raise DVInputError("video", "both a first frame and a video are wired in.",
                           "an image for image-to-video, or a video (with a mask) for inpainting.")
    if last is not None and inputs.image is None:
        raise DVInputError("last_image", "DVEasyAnimateOptions' last_image is wired, but no first frame is wired "
                           "into DVSampler's 'image'.", "the first frame into 'image' as well, or disconnect "
                           "'last_image'.")
    if mask is not None and inputs.video is None:
        raise DVInputError("mask", "DVEasyAnimateOptions' mask says which parts of the video in DVSampler's 'video' "
                           "to repaint, and no video is wired in.", "the video into DVSampler's 'video', or "
                           "disconnect 'mask'.")
    if inputs.video is not None:
        if mask is None:
            raise DVInputError("video", f"a video into a {label} InP model is inpainted where a mask says, and no "
                               "mask is wired in.", "a MASK into DVEasyAnimateOptions' mask (white repaints).")
        frames = int(inputs.video.shape[0])
        _check_length("video", frames, params.num_frames, "frames")
        if _mask_frames(mask) not in (1, frames):
            raise DVInputError("mask", f"the mask has {_mask_frames(mask)} frames, the video {frames}.",
                               f"one mask for every frame, or {frames} masks (one per frame).")
        mask_size = (int(mask.shape[-1]), int(mask.shape[-2]))
        video_size = (int(inputs.video.shape[2]), int(inputs.video.shape[1]))
        if mask_size != video_size:
            raise DVInputError("mask", f"the mask is {mask_size[0]}x{mask_size[1]}, the video "
                               f"{video_size[0]}x{video_size[1]}.", "a mask of the video's size.")
        return "inpaint"
    return "i2v" if inputs.image is not None else "t2v"


def _check_length(input_name: str, frames: int, num_frames: int, what: str) -> None:
    if frames != num_frames:
        raise DVInputError(input_name, f"{frames} {what} wired in, but num_frames is {num_frames}; "
                           f"{FAMILY.label} takes one per output frame.",
                           f"exactly {num_frames} {what} (or num_frames {frames} if that is 4k+1).")


def _check_vae(model: DVModel, vae: DVVAE | None, task: str) -> None:
    if vae is None:
        if task != "t2v":
            raise DVInputError("vae", f"{model.family.label} encodes its conditioning frames with the VAE, and none "
                               "is wired in.", "the VAE from the same folder.")
        return
    if type(vae.module).__name__ != MAGVIT:
        raise DVInputError("vae", f"this is a {vae.family.label} VAE ({type(vae.module).__name__}); "
                           f"{model.family.label} encodes with its Magvit VAE.",
                           f"the {MAGVIT} from the same {model.family.label} folder.")
    channels = int(vae.module.config.latent_channels)
    if channels != int(model.module.config.out_channels):
        raise DVInputError("vae", f"this VAE has {channels} latent channels, the model "
                           f"{model.module.config.out_channels}.", "the VAE from the same folder.")


def _check_text(model: DVModel, cond: DVConditioning) -> None:
    check_text_width(model, cond, int(model.module.config.text_embed_dim), "Qwen2-VL text encoder")


def _frames_tensor(pil_frames: list, num_frames: int, height: int, width: int):
    """[1, 3, F, H, W] in 0..1, as the guide's get_video_to_video_latent makes a control or source video."""
    from diffusers.pipelines.easyanimate.pipeline_easyanimate_control import get_video_to_video_latent

    return get_video_to_video_latent(pil_frames, num_frames, (height, width))[0]


def _reference_tensor(pil_image, height: int, width: int):
    """[1, 3, 1, H, W] in 0..1: the reference image as the control pipeline's ref_image. (The guide's helper
    cannot make it: get_video_to_video_latent's ref_image branch calls preprocess_image with a `size` argument
    it does not take.)"""
    from diffusers.pipelines.easyanimate.pipeline_easyanimate_control import preprocess_image

    return preprocess_image(pil_image, (height, width))[:, None][None]


def _mask_tensor(mask, num_frames: int, height: int, width: int):
    """MASK [F or 1, h, w] (white repaints) -> the pipeline's mask_video [1, 1, F, H, W] with 255 where it
    repaints and 0 where it keeps, as get_image_to_video_latent marks them; binary at 0.5 and resized
    nearest-neighbour, so a hard mask stays hard."""
    import torch.nn.functional as F

    mask = mask.float().cpu()
    mask = mask[None] if mask.ndim == 2 else mask
    mask = F.interpolate(mask[:, None], size=(height, width), mode="nearest")[:, 0]
    mask = (mask >= 0.5).float() * 255
    if mask.shape[0] == 1:
        mask = mask.expand(num_frames, -1, -1)
    return mask[None, None].contiguous()


def _control_pipeline(**components):
    pipe = assemble(_pipeline_class("control"), **components)
    own = pipe.encode_prompt

    def encode_prompt(*args, text_encoder_index: int = 0, **kwargs):
        # __call__ passes text_encoder_index=0 (a leftover of two-encoder releases) that encode_prompt rejects.
        return own(*args, **kwargs)

    pipe.encode_prompt = encode_prompt
    return pipe


def _magvit_config_for_inpaint(vae_module):
    """The VAE's config with cache_mag_vae, which EasyAnimateInpaintPipeline reads and Magvit does not declare."""
    from diffusers.configuration_utils import FrozenDict

    config = vae_module.config
    if "cache_mag_vae" in config:
        return contextlib.nullcontext()
    return decode_util.temporary_attributes(vae_module, _internal_dict=FrozenDict({**config, "cache_mag_vae": True}))


def sample(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
           inputs: SampleInputs) -> dict[str, Any]:
    from ..samplers.image_input import pipeline_frames, pipeline_image

    cond = require_conditioning(model, inputs)
    check_common(model, cond, params, model.geometry.spatial * int(model.module.config.patch_size))
    task = _check_task(model, params, inputs)
    kind = model_kind(model)
    _check_vae(model, inputs.vae, task)
    _check_text(model, cond)

    device, dtype = model.managed.device, model.managed.dtype
    call_kwargs: dict[str, Any] = {
        key: value.to(device=device, dtype=dtype if value.is_floating_point() else value.dtype)
        for key, value in cond.embeds.items()}
    call_kwargs.update(height=params.height, width=params.width, num_frames=params.num_frames,
                       num_inference_steps=params.num_inference_steps, guidance_scale=params.guidance_scale)
    height, width = params.height, params.width
    others, vae_context = [], contextlib.nullcontext()
    if kind == "t2v":
        pipe = assemble(_pipeline_class("t2v"), model.pipeline_config, transformer=model.module,
                        scheduler=scheduler.create())
        # Sampling reads only the VAE's channel count (to split a learned-sigma output), not the VAE itself.
        pipe.vae = SimpleNamespace(config=SimpleNamespace(latent_channels=model.geometry.channels))
        pipe.vae_spatial_compression_ratio = model.geometry.spatial
        pipe.vae_temporal_compression_ratio = model.geometry.temporal
    elif kind == "control":
        others = [inputs.vae.managed]
        pipe = _control_pipeline(transformer=model.module, vae=inputs.vae.module, scheduler=scheduler.create())
        frames = pipeline_frames("video", inputs.video, height, width, inputs.options, params.num_frames,
                                 same_aspect=True)
        call_kwargs["control_video"] = _frames_tensor(frames, params.num_frames, height, width)
        if inputs.image is not None:
            call_kwargs["ref_image"] = _reference_tensor(pipeline_image("image", inputs.image, height, width,
                                                                        inputs.options), height, width)
    else:
        pipe = assemble(_pipeline_class("inpaint"), model.pipeline_config, transformer=model.module,
                        vae=inputs.vae.module if inputs.vae is not None else None, scheduler=scheduler.create())
        call_kwargs["noise_aug_strength"] = float(inputs.option("noise_aug_strength", NOISE_AUG_DEFAULT))
        if inputs.vae is not None:
            others = [inputs.vae.managed]
            vae_context = _magvit_config_for_inpaint(inputs.vae.module)
        else:  # text-to-video on an InP model reads the VAE's channel count only
            pipe.vae = SimpleNamespace(config=SimpleNamespace(latent_channels=model.geometry.channels))
            pipe.vae_spatial_compression_ratio = model.geometry.spatial
            pipe.vae_temporal_compression_ratio = model.geometry.temporal
        if task == "i2v":
            from diffusers.pipelines.easyanimate.pipeline_easyanimate_inpaint import get_image_to_video_latent

            first = pipeline_image("image", inputs.image, height, width, inputs.options)
            last = _wired(inputs, "last_image")
            last = None if last is None else pipeline_image("last_image", last, height, width, inputs.options)
            video, mask_video = get_image_to_video_latent([first], last, params.num_frames, (height, width))
            call_kwargs.update(video=video, mask_video=mask_video)
        elif task == "inpaint":
            frames = pipeline_frames("video", inputs.video, height, width, inputs.options, params.num_frames,
                                     same_aspect=True)
            call_kwargs["video"] = _frames_tensor(frames, params.num_frames, height, width)
            call_kwargs["mask_video"] = _mask_tensor(_wired(inputs, "mask"), params.num_frames, height, width)
    with denoisers_loaded(model, *others), vae_context:
        latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, lambda x: x)
    return {"samples": latents.to(host.intermediate_device()), "dv_family": FAMILY.id,
            "dv_num_frames": params.num_frames}


# ------------------------------------------------------------------------------------------- decode


def decode(vae: DVVAE, latent: dict[str, Any], settings: decode_util.DecodeSettings):
    """As EasyAnimatePipeline does after sampling: divide by the scaling factor, the Magvit decoder (first latent
    frame alone, then `chunk` latent frames per call, its causal cache carrying context), optionally in spatial
    tiles, then the VideoProcessor."""
    from diffusers.video_processor import VideoProcessor

    module = vae.module
    if type(module).__name__ != MAGVIT:
        raise DVInputError("vae", f"this is a {vae.family.label} VAE ({type(module).__name__}); EasyAnimate latents "
                           f"decode with the Magvit VAE.", f"the {MAGVIT} from the same EasyAnimate folder.")
    samples = latent["samples"]
    decode_util.check_latent(vae, samples, int(module.config.latent_channels))
    host.load_to_device([vae.managed])
    latents = 1 / module.config.scaling_factor * samples.to(device=vae.managed.device, dtype=vae.managed.dtype)
    spatial = vae.geometry.spatial
    overrides = decode_util.strided_tiling(settings, spatial)
    if settings.chunk:
        overrides["num_latent_frames_batch_size"] = settings.chunk
    with decode_util.temporary_attributes(module, **overrides):
        chunk = module.num_latent_frames_batch_size
        calls = 1 + -(-(latents.shape[2] - 1) // chunk)
        tiles = decode_util.strided_tile_count(module, latents, spatial)
        with decode_util.progress_per_call(module.decoder, calls * tiles):
            video = module.decode(latents, return_dict=False)[0]
    return decode_util.to_image(VideoProcessor(vae_scale_factor=spatial), video)
