"""HunyuanVideo-1.5 (Tencent): text- and image-to-video with a Qwen2.5-VL text model and a ByT5 glyph encoder,
an 8.3B flow-matching DiT (1x1 patches, a classifier-free guider) and its own causal VAE (16x spatial, 4x
temporal, 32 channels). Nothing of it is shared with HunyuanVideo 1.0 but the name: other pipelines, encoders,
DiT and VAE, so it is a family of its own; folders are told apart by model_index.json's pipeline class.

HunyuanVideo15Pipeline samples from text; HunyuanVideo15ImageToVideoPipeline puts the image's latents in the first
latent frame beside the noise (with a mask) and its SigLIP embeddings in the DiT's image tokens. The task follows
DVSampler's inputs: an image runs the image-to-video pipeline, which needs the SigLIP encoder only the I2V folders
carry. Guidance lives in the folder's guider (ClassifierFreeGuidance); DVSampler's guidance_scale replaces its
guidance_scale for the run, its other settings stay.

Prompts: the pipelines put the prompt in Qwen2.5-VL's chat template after a fixed system message and crop the
first 108 tokens of the hidden states. The crop is counted on the loaded tokenizer instead (as HunyuanVideo and
Kandinsky 5 count theirs): the system message is 100 pre-tokens of common words, each one token of the released
Qwen2.5 vocabulary, plus the template's 8, so the released tokenizer counts the same 108. Text in quotes is also
encoded, byte by byte, by the ByT5 encoder (256 tokens), as the pipelines do.

The image-to-video pipeline takes no size: it renders at the bucket of target_size**2 pixels nearest the image's
aspect ratio (848x480 for a 16:9 image on the 480p models). DVSampler's width and height are used instead (the
image is centre-cropped to them as the pipeline crops it to its bucket); at the bucket size the frames are the
pipeline's own. The VAE decodes every frame in one pass (it has no temporal chunking), optionally in spatial tiles.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from .. import host
from ..errors import DVInputError
from ..model_loaders.components import DVVAE, DVConditioning, DVModel, DVSchedulerSpec, DVTextEncoder
from ..samplers import decode as decode_util
from ..samplers.pipeline import (
    SampleInputs,
    SampleParams,
    assemble,
    denoisers_loaded,
    run_denoise,
    step_hook_on_scheduler,
)
from ..samplers.validate import check_common, check_text_width, require_conditioning
from .spec import Family, FrameRule, LatentGeometry, Variant

T2V, I2V = "HunyuanVideo15Pipeline", "HunyuanVideo15ImageToVideoPipeline"
VAE_CLASS = "AutoencoderKLHunyuanVideo15"


def _vae_geometry(cfg: Mapping[str, Any], default: LatentGeometry) -> LatentGeometry:
    """The VAE config names its compression directly (its block count does not give it)."""
    return LatentGeometry(spatial=int(cfg.get("spatial_compression_ratio", default.spatial)),
                          temporal=int(cfg.get("temporal_compression_ratio", default.temporal)),
                          channels=int(cfg.get("latent_channels", default.channels)),
                          scaling_factor=float(cfg.get("scaling_factor", default.scaling_factor)))


FAMILY = Family(
    id="hunyuanvideo15",
    label="HunyuanVideo-1.5",
    pipeline_classes={"t2v": T2V, "i2v": I2V},
    model_classes=("HunyuanVideo15Transformer3DModel",),
    vae_classes=(VAE_CLASS,),
    # The Qwen2.5-VL (text_encoder) is the one DVTextEncoderLoader is pointed at; the ByT5 (text_encoder_2) comes
    # with it from the same folder.
    text_encoder_classes=("Qwen2_5_VLTextModel",),
    frame_rule=FrameRule(multiple=4, offset=1),  # the VAE's 4x temporal compression
    size_multiple=16,  # VAE 16 x patch 1
    pipeline_size_multiple=16,
    geometry=LatentGeometry(spatial=16, temporal=4, channels=32, scaling_factor=1.03682),
    vae_geometry=_vae_geometry,
    order=31,
    comfy_latent_format="HunyuanVideo15",  # ComfyUI 0.33+; older releases show no previews for it
    flow_matching=True,
    # The pipelines' defaults: 121 frames, 50 steps; the 480p models' 16:9 size (target_size 640: 848x480); the
    # conversion script's guider (6.0; the distilled releases 1.0); the I2V example exports at 24 fps.
    # max_sequence_length is the pipelines' tokenizer_max_length.
    defaults={"num_frames": 121, "fps": 24, "steps": 50, "guidance_scale": 6.0, "width": 848, "height": 480,
              "max_sequence_length": 1000},
    variants=(
        # The 720p releases (target_size 960): the 16:9 size the T2V pipeline picks is 1280x720.
        Variant("720p", lambda configs: int(configs.get("denoiser", {}).get("target_size", 0)) >= 960, {
            "label": "HunyuanVideo-1.5 (720p)",
            "defaults": {"num_frames": 121, "fps": 24, "steps": 50, "guidance_scale": 6.0, "width": 1280,
                         "height": 720, "max_sequence_length": 1000}}),
    ),
    # The diffusers HunyuanVideo-1.5 guide loads the whole pipeline with dtype=torch.bfloat16: no role has a
    # dtype of its own.
    component_dtypes={},
    notes="guidance_scale replaces the folder guider's (the distilled releases are run at 1, which turns the "
    "negative prompt off). Image-to-video renders at DVSampler's width and height; the pipeline alone would pick "
    "the bucket of the DiT's target_size nearest the image's aspect (848x480 for 16:9 on the 480p models).",
)

log = logging.getLogger("DiffusersVideo")

# The conversion script's 480p scheduler: FlowMatch Euler, shift 5 (the 720p folders carry 7 or 9).
DEFAULT_SCHEDULER = DVSchedulerSpec.from_config_dict(
    "FlowMatchEulerDiscreteScheduler", {"num_train_timesteps": 1000, "shift": 5.0, "use_dynamic_shifting": False},
    "HunyuanVideo-1.5 default",
)
EMBED_KEYS = ("prompt_embeds", "prompt_embeds_mask", "prompt_embeds_2", "prompt_embeds_mask_2")
SENTINEL = "\x00DV\x00"  # stands in for the prompt when the chat template is rendered, to find its place


def _pipeline_defaults() -> dict[str, Any]:
    """What the pipelines' __init__ fixes (system message, 108-token crop, ByT5's 256 tokens), read from the
    defaults of the static encoders that take them: the pipeline cannot be made without a VAE to ask."""
    from diffusers import HunyuanVideo15Pipeline

    mllm = inspect.signature(HunyuanVideo15Pipeline._get_mllm_prompt_embeds).parameters
    byt5 = inspect.signature(HunyuanVideo15Pipeline._get_byt5_prompt_embeds).parameters
    return {"system_message": mllm["system_message"].default, "crop_start": mllm["crop_start"].default,
            "byt5_tokens": byt5["tokenizer_max_length"].default}


def _chat(tokenizer, text: str) -> list[int]:
    from diffusers.pipelines.hunyuan_video1_5.pipeline_hunyuan_video1_5 import format_text_input

    rendered = tokenizer.apply_chat_template(format_text_input([text], _pipeline_defaults()["system_message"]),
                                             add_generation_prompt=True, tokenize=False)
    return rendered[0] if isinstance(rendered, list) else rendered


def template_crop(tokenizer) -> int:
    """The tokens of the chat template before the prompt (header and system message), counted on this tokenizer."""
    rendered = _chat(tokenizer, SENTINEL)
    return len(tokenizer(rendered[:rendered.index(SENTINEL)]).input_ids)


def _text_encoders(te: DVTextEncoder):
    """(Qwen2.5-VL, its tokenizer, ByT5 managed module or module, ByT5 tokenizer), each checked."""
    if te.tokenizer is None or not getattr(te.tokenizer, "chat_template", None):
        raise DVInputError("text_encoder", "this text encoder came without its tokenizer (and chat template).",
                           "load it from a HunyuanVideo-1.5 folder, whose tokenizer subfolder has both.")
    config = te.module.config
    if getattr(config, "model_type", "") != "qwen2_5_vl_text":
        raise DVInputError("text_encoder", f"{FAMILY.label} prompts start with its Qwen2.5-VL text model, and this "
                           f"is a {type(te.module).__name__}.", "the text_encoder subfolder of a HunyuanVideo-1.5 "
                           "folder (not text_encoder_2), or DVPipelineLoader's text_encoder output.")
    if int(config.num_hidden_layers) < 2:
        raise DVInputError("text_encoder", f"{FAMILY.label} reads the Qwen's third-last hidden state, and this one "
                           f"has {config.num_hidden_layers} layer(s).",
                           "a Qwen2.5-VL text model with 2 or more layers.")
    byt5, byt5_tokenizer = te.extras.get("text_encoder_2"), te.extras.get("tokenizer_2")
    if byt5 is None or byt5_tokenizer is None:
        raise DVInputError("text_encoder", f"{FAMILY.label} also needs its ByT5 glyph encoder and tokenizer "
                           "(text_encoder_2, tokenizer_2), which did not come with this one.",
                           "DVPipelineLoader, or DVTextEncoderLoader on the text_encoder subfolder of a folder that "
                           "has text_encoder_2 and tokenizer_2.")
    return te.module, te.tokenizer, byt5, byt5_tokenizer


def _check_lengths(tokenizer, byt5_tokenizer, crop: int, texts: dict[str, str], limit: int,
                   truncate: bool) -> list[str]:
    """State (or refuse) what either encoder cuts instead of cutting it silently: the Qwen keeps `limit` tokens
    after the template's head (its closing tokens included), the ByT5 the quoted text's first 256 bytes."""
    from diffusers.pipelines.hunyuan_video1_5.pipeline_hunyuan_video1_5 import extract_glyph_texts

    byt5_limit = _pipeline_defaults()["byt5_tokens"]
    notes = []
    for input_name, text in texts.items():
        glyphs = extract_glyph_texts(text)
        counts = (("Qwen2.5-VL", len(tokenizer(_chat(tokenizer, text)).input_ids) - crop, limit),
                  ("ByT5 (quoted text)", len(byt5_tokenizer(glyphs).input_ids) if glyphs else 0, byt5_limit))
        for encoder, count, most in counts:
            if count <= most:
                continue
            if not truncate:
                raise DVInputError(input_name, f"{count} tokens, over the {encoder} encoder's {most}.",
                                   f"at most {most} tokens, or turn truncate_long_prompt on.")
            message = (f"DVTextEncode: input '{input_name}': {count} tokens, over the {encoder} encoder's {most}; "
                       "the end is cut off.")
            log.warning(message)
            notes.append(message)
    return notes


def encode(te: DVTextEncoder, prompt: str, negative_prompt: str, max_sequence_length: int,
           truncate: bool) -> DVConditioning:
    """The pipelines' own prompt encoders (their static methods: a pipeline cannot be made without its VAE),
    called as encode_prompt calls them, with the crop counted on the loaded tokenizer."""
    from diffusers import HunyuanVideo15Pipeline

    qwen, tokenizer, byt5, byt5_tokenizer = _text_encoders(te)
    crop = template_crop(tokenizer)
    fixed = _pipeline_defaults()
    if crop != fixed["crop_start"]:
        log.info("DVTextEncode: this tokenizer puts the prompt after %d template tokens (the pipeline's fixed crop "
                 "is %d, the released Qwen2.5 tokenizer's count); cropping %d.", crop, fixed["crop_start"], crop)
    notes = _check_lengths(tokenizer, byt5_tokenizer, crop, {"prompt": prompt, "negative_prompt": negative_prompt},
                           max_sequence_length, truncate)
    managed = [te.managed] + ([byt5] if isinstance(byt5, host.ManagedModule) else [])
    host.load_to_device(managed)
    byt5_module = byt5.module if isinstance(byt5, host.ManagedModule) else byt5
    device = te.managed.device
    embeds: dict[str, Any] = {}
    with decode_util.temporary_attributes(tokenizer, padding_side="right"):  # as the released tokenizer pads
        for prefix, text in (("", prompt), ("negative_", negative_prompt)):
            mllm = HunyuanVideo15Pipeline._get_mllm_prompt_embeds(
                qwen, tokenizer, [text], device, tokenizer_max_length=max_sequence_length,
                system_message=fixed["system_message"], crop_start=crop)
            glyph = HunyuanVideo15Pipeline._get_byt5_prompt_embeds(byt5_tokenizer, byt5_module, [text], device,
                                                                   tokenizer_max_length=fixed["byt5_tokens"])
            embeds.update({prefix + key: value for key, value in zip(EMBED_KEYS, (*mllm, *glyph), strict=True)})
    return DVConditioning(FAMILY, prompt, negative_prompt, embeds, notes)


@functools.cache
def _with_step_hook(base: type) -> type:
    """The pipeline class with the `callback_on_step_end` hook run_denoise drives (progress, interrupt,
    previews), which the 1.5 pipelines lack: it rides on the run's scheduler, stepped once per denoising step.
    `render_size` makes the image-to-video pipeline render at that (height, width) instead of its bucket."""
    class WithStepHook(base):
        def __call__(self, *args: Any, callback_on_step_end=None, callback_on_step_end_tensor_inputs=None,
                     render_size: tuple[int, int] | None = None, **kwargs: Any):
            if render_size is not None:
                self.video_processor.calculate_default_height_width = lambda *_a, **_k: render_size
            with step_hook_on_scheduler(self, callback_on_step_end):
                return super().__call__(*args, **kwargs)

    WithStepHook.__name__ = f"{base.__name__}WithStepHook"
    return WithStepHook


def _pipeline_class(task: str) -> type:
    import diffusers

    return _with_step_hook(getattr(diffusers, FAMILY.pipeline_classes[task]))


class _VAEStandIn:
    """What the text-to-video pipeline reads from its VAE in __init__ and while sampling (decoding is
    DVVAEDecode's), so text-to-video needs no VAE wired into DVSampler. A class, not a namespace: diffusers
    records each component's module and class name."""

    def __init__(self, geometry: LatentGeometry) -> None:
        self.config = SimpleNamespace(latent_channels=geometry.channels)
        self.spatial_compression_ratio = geometry.spatial
        self.temporal_compression_ratio = geometry.temporal


def _guider(model: DVModel, guidance_scale: float):
    """The folder's guider with DVSampler's guidance_scale (a fresh one per run: guiders keep step state)."""
    from diffusers.guiders import ClassifierFreeGuidance

    guider = model.companions.get("guider")
    if guider is None:  # DVModelLoader: no folder guider; the conversion script's is a plain CFG
        return ClassifierFreeGuidance(guidance_scale=guidance_scale)
    return guider.new(guidance_scale=guidance_scale)


def _check_inputs(model: DVModel, params: SampleParams, inputs: SampleInputs) -> tuple[str, DVConditioning]:
    label, source = model.family.label, model.source
    if inputs.video is not None:
        raise DVInputError("video", f"{label} takes no video.", "disconnect 'video'.")
    cond = require_conditioning(model, inputs)
    check_common(model, cond, params, model.geometry.spatial * int(model.module.config.patch_size))
    config = model.module.config
    check_text_width(model, cond, config.text_embed_dim, "Qwen2.5-VL text encoder")
    width = int(cond.embeds["prompt_embeds_2"].shape[-1])
    if width != int(config.text_embed_2_dim):
        raise DVInputError("conditioning", f"the ByT5 embeddings have width {width}, but this transformer expects "
                           f"{config.text_embed_2_dim}.", f"the text encoders from the same {label} folder.")
    folder_class = model.pipeline_config.get("_class_name")
    if inputs.image is None:
        if folder_class == I2V:
            raise DVInputError("image", f"'{source}' is a {label} image-to-video release, and no image is wired in.",
                               "the first frame (an IMAGE) into 'image'.")
        return "t2v", cond
    from ..samplers.image_input import check_frames

    check_frames("image", inputs.image)
    if model.companions.get("image_encoder") is None or model.companions.get("feature_extractor") is None:
        raise DVInputError("image", f"'{source}' came without the SigLIP image encoder {label} image-to-video "
                           "needs (only the I2V folders carry it).", f"a {label} I2V folder (e.g. HunyuanVideo-1.5-"
                           "Diffusers-480p_i2v) through DVPipelineLoader, or disconnect 'image' for text-to-video.")
    if inputs.vae is None:
        raise DVInputError("vae", f"{label} image-to-video encodes the image with its VAE, and none is wired in.",
                           "the VAE from the same folder.")
    _check_vae(model, inputs.vae)
    return "i2v", cond


def _check_vae(model: DVModel, vae: DVVAE) -> None:
    channels = getattr(vae.module.config, "latent_channels", None)
    if type(vae.module).__name__ != VAE_CLASS or channels != model.geometry.channels:
        raise DVInputError("vae", f"the image is encoded to the model's latents, and this is a {vae.family.label} "
                           f"VAE ({type(vae.module).__name__}, {channels or '?'} channels).",
                           f"the {VAE_CLASS} from the same {model.family.label} folder.")


def sample(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
           inputs: SampleInputs) -> dict[str, Any]:
    task, cond = _check_inputs(model, params, inputs)
    device, dtype = model.managed.device, model.managed.dtype
    call_kwargs: dict[str, Any] = {
        key: value.to(device=device, dtype=dtype if value.is_floating_point() else value.dtype)
        for key, value in cond.embeds.items()}
    call_kwargs.update(num_frames=params.num_frames, num_inference_steps=params.num_inference_steps)
    components = {"transformer": model.module, "scheduler": scheduler.create(),
                  "guider": _guider(model, params.guidance_scale)}
    others = []
    if task == "i2v":
        from ..samplers.image_input import pipeline_image

        encoder = model.companions["image_encoder"]
        others = [inputs.vae.managed, encoder]
        pipe = assemble(_pipeline_class("i2v"), model.pipeline_config, vae=inputs.vae.module,
                        image_encoder=encoder.module, feature_extractor=model.companions["feature_extractor"],
                        **components)
        image = pipeline_image("image", inputs.image, params.height, params.width, inputs.options)
        bucket = pipe.video_processor.calculate_default_height_width(image.size[1], image.size[0], pipe.target_size)
        if tuple(bucket) != (params.height, params.width):
            log.info("DVSampler: %s image-to-video renders at %dx%d as asked; its pipeline alone would pick %dx%d "
                     "for this image.", FAMILY.label, params.width, params.height, bucket[1], bucket[0])
        call_kwargs.update(image=image, render_size=(params.height, params.width))
    else:
        pipe = assemble(_pipeline_class("t2v"), model.pipeline_config, vae=_VAEStandIn(model.geometry), **components)
        call_kwargs.update(height=params.height, width=params.width)
    with denoisers_loaded(model, *others):
        latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, lambda x: x)
    return {"samples": latents.to(host.intermediate_device()), "dv_family": FAMILY.id,
            "dv_num_frames": params.num_frames}


def _tiling(module, settings: decode_util.DecodeSettings, spatial: int) -> dict[str, Any]:
    overrides: dict[str, Any] = {"use_tiling": settings.tiling}
    if settings.tiling and (settings.tile_sample_size or settings.tile_overlap):
        tile_px, tile_latent, factor = decode_util.consistent_tile(
            spatial, settings.tile_sample_size or module.tile_sample_min_height,
            settings.tile_overlap or module.tile_overlap_factor)
        overrides.update(tile_sample_min_height=tile_px, tile_sample_min_width=tile_px,
                         tile_latent_min_height=tile_latent, tile_latent_min_width=tile_latent,
                         tile_overlap_factor=factor)
    return overrides


def _tiles(module, latents) -> int:
    """Decoder calls of the VAE's tiled decode (1 without tiling, or for latents within one tile)."""
    import math

    height, width = latents.shape[-2:]
    if not module.use_tiling or (width <= module.tile_latent_min_width and height <= module.tile_latent_min_height):
        return 1
    step_h = max(int(module.tile_latent_min_height * (1 - module.tile_overlap_factor)), 1)
    step_w = max(int(module.tile_latent_min_width * (1 - module.tile_overlap_factor)), 1)
    return math.ceil(height / step_h) * math.ceil(width / step_w)


def decode(vae: DVVAE, latent: dict[str, Any], settings: decode_util.DecodeSettings):
    """As the pipelines do after sampling: divide by the scaling factor, the VAE in one pass over all frames
    (optionally in spatial tiles), then the VideoProcessor."""
    from diffusers.video_processor import VideoProcessor

    module = vae.module
    if type(module).__name__ != VAE_CLASS:
        raise DVInputError("vae", f"this is a {vae.family.label} VAE ({type(module).__name__}); the latents are "
                           f"{FAMILY.label}'s.", f"the {VAE_CLASS} from the same {FAMILY.label} folder.")
    samples = latent["samples"]
    decode_util.check_latent(vae, samples, int(module.config.latent_channels))
    if settings.chunk:
        log.info("DVVAEDecode: the %s VAE decodes every frame in one pass; decode_chunk_size %d is not used "
                 "(spatial tiling saves memory instead).", FAMILY.label, settings.chunk)
    host.load_to_device([vae.managed])
    latents = samples.to(device=vae.managed.device, dtype=vae.managed.dtype) / module.config.scaling_factor
    with decode_util.temporary_attributes(module, **_tiling(module, settings, vae.geometry.spatial)):
        with decode_util.progress_per_call(module.decoder, _tiles(module, latents)):
            video = module.decode(latents, return_dict=False)[0]
    return decode_util.to_image(VideoProcessor(vae_scale_factor=vae.geometry.spatial), video)
