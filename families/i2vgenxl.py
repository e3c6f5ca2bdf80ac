"""I2VGen-XL (Alibaba DAMO): image-to-video with a prompt, a CLIP text and image encoder, a 3D UNet over
Stable Diffusion's image VAE.

I2VGen-XL glue: I2VGenXLPipeline for the prompt and for sampling from an image, its image VAE frame by frame."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

from .. import host
from ..errors import DVInputError
from ..model_loaders.components import DVVAE, DVConditioning, DVModel, DVSchedulerSpec, DVTextEncoder
from ..samplers import decode as decode_util
from ..samplers.clip_text import check_length
from ..samplers.image_input import pipeline_image
from ..samplers.pipeline import SampleInputs, SampleParams, assemble, run_denoise, step_hook_on_scheduler
from ..samplers.validate import check_common, require_conditioning
from .deprecated import moved_class
from .spec import Family, FrameRule, LatentGeometry, OptionSpec

FAMILY = Family(
    id="i2vgenxl",
    label="I2VGen-XL",
    pipeline_classes={"i2v": "I2VGenXLPipeline"},
    model_classes=("I2VGenXLUNet",),
    vae_classes=("AutoencoderKL",),  # shared with image models: loaders read the family from the folder
    text_encoder_classes=("CLIPTextModel",),
    frame_rule=FrameRule(multiple=1, offset=0, minimum=1),  # an image VAE: every frame has its own latent
    size_multiple=8,
    geometry=LatentGeometry(spatial=8, temporal=1, channels=4, scaling_factor=0.18215),
    order=55,
    comfy_latent_format="SD15",
    # fps is the rate the original code saves at; the model is conditioned on target_fps (an option).
    defaults={"num_frames": 16, "fps": 8, "steps": 50, "guidance_scale": 9.0, "width": 1280, "height": 704,
              "decode_chunk_size": 1},
    notes="The prompt is encoded from CLIP's penultimate layer (clip_skip 1), as the pipeline always does.",
    options=(
        OptionSpec("target_fps", "INT", 16, "The frame rate the video is conditioned on (a micro-condition of "
                   "the UNet; the pipeline's default 16). The saved video's rate is set where it is saved.",
                   1, 60, 1),
    ),
    options_node="DVI2VGenXLOptions",
    # The whole pipeline in fp16, as diffusers' video generation guide (using-diffusers/text-img2vid.md) loads
    # it: `I2VGenXLPipeline.from_pretrained("ali-vilab/i2vgen-xl", torch_dtype=torch.float16, variant="fp16")`.
    component_dtypes={"*": "fp16"},
)

# ali-vilab/i2vgen-xl's scheduler (the original code's cosine schedule, v-prediction, zero terminal SNR).
DEFAULT_SCHEDULER = DVSchedulerSpec.from_config_dict(
    "DDIMScheduler",
    {"beta_end": 0.02, "beta_schedule": "squaredcos_cap_v2", "beta_start": 0.0001, "clip_sample": False,
     "num_train_timesteps": 1000, "prediction_type": "v_prediction", "rescale_betas_zero_snr": True,
     "set_alpha_to_one": True, "steps_offset": 1, "timestep_spacing": "leading"},
    "I2VGen-XL default",
)

# The pipeline always reads the prompt from CLIP's penultimate layer (its default, and what the model was
# trained on); diffusers' I2VGen-XL docs say so too.
CLIP_SKIP = 1
DEFAULT_DECODE_CHUNK = 1  # the pipeline's decode_chunk_size


@functools.cache
def _with_step_hook(I2VGenXLPipeline: type) -> type:  # noqa: N803 - a class
    """I2VGenXLPipeline with the `callback_on_step_end` hook run_denoise drives (progress, interrupt,
    previews): this deprecated pipeline has no step callback, so the hook rides on the run's own scheduler,
    whose step the loop calls once per denoising step."""
    class I2VGenXLPipelineWithStepHook(I2VGenXLPipeline):
        def __call__(self, *args: Any, callback_on_step_end=None, callback_on_step_end_tensor_inputs=None,
                     **kwargs: Any):
            frames = kwargs.get("num_frames", 16)

            def to_latents(prev):  # the loop steps on [B*F, C, H, W]; the hook sees [B, C, F, H, W]
                return prev.reshape(-1, frames, *prev.shape[1:]).permute(0, 2, 1, 3, 4)

            with step_hook_on_scheduler(self, callback_on_step_end, to_latents):
                return super().__call__(*args, **kwargs)

    return I2VGenXLPipelineWithStepHook


def _pipeline(**components: Any):
    # The first node to reach a diffusers without the class names its own input.
    base = moved_class("I2VGenXLPipeline", FAMILY.label, "model" if "unet" in components else "text_encoder")
    return assemble(_with_step_hook(base), **components)


@contextlib.contextmanager
def _clip_skip_reachable(text_encoder) -> Iterator[None]:
    """The pipeline's clip_skip path applies `text_encoder.text_model.final_layer_norm`; transformers 5
    flattened CLIPTextModel so the layer norm sits on the model itself. An alias for the call lets the
    pipeline's own code run unchanged. Set past nn.Module.__setattr__ so it is no submodule (a cycle)."""
    if hasattr(text_encoder, "text_model"):
        yield
        return
    object.__setattr__(text_encoder, "text_model", text_encoder)
    try:
        yield
    finally:
        del text_encoder.__dict__["text_model"]


def encode(te: DVTextEncoder, prompt: str, negative_prompt: str, max_sequence_length: int,
           truncate: bool) -> DVConditioning:
    """The pipeline's encode_prompt with its clip_skip. CLIP's 77 tokens are the limit; max_sequence_length
    does not apply."""
    if te.tokenizer is None:
        raise DVInputError("text_encoder", "this text encoder came without its tokenizer.",
                           "load it from a diffusers folder that has a tokenizer subfolder.")
    if not hasattr(te.module, "final_layer_norm") and not hasattr(te.module, "text_model"):
        raise DVInputError("text_encoder", f"{type(te.module).__name__} is not a CLIP text model.",
                           "the text encoder from an I2VGen-XL folder.")
    notes = check_length(te.tokenizer, {"prompt": prompt, "negative_prompt": negative_prompt},
                         te.tokenizer.model_max_length, truncate)
    host.load_to_device([te.managed])
    pipe = _pipeline(tokenizer=te.tokenizer, text_encoder=te.module)
    pipe._guidance_scale = 2.0  # encode_prompt makes the negative embeddings only when it thinks it guides
    with _clip_skip_reachable(te.module):
        positive, negative = pipe.encode_prompt(prompt, te.managed.device, 1, negative_prompt, clip_skip=CLIP_SKIP)
    return DVConditioning(FAMILY, prompt, negative_prompt,
                          {"prompt_embeds": positive, "negative_prompt_embeds": negative}, notes)



def _check_inputs(model: DVModel, params: SampleParams, inputs: SampleInputs) -> DVConditioning:
    if inputs.video is not None:
        raise DVInputError("video", f"{FAMILY.label} starts from one image.", "an IMAGE into 'image'.")
    if inputs.image is None:
        raise DVInputError("image", f"{FAMILY.label} needs the image to animate.",
                           "an IMAGE wired into 'image' (e.g. from Load Image).")
    if inputs.vae is None:
        raise DVInputError("vae", f"{FAMILY.label} encodes the image with its VAE, and none is wired in.",
                           "the VAE from the same folder.")
    cond = require_conditioning(model, inputs)
    # The image says what to animate, so an empty prompt is allowed.
    check_common(model, cond, params, model.geometry.spatial, needs_prompt=False)
    config = model.module.config
    width = int(cond.embeds["prompt_embeds"].shape[-1])
    if width != int(config.cross_attention_dim):
        raise DVInputError("conditioning", f"the text embeddings have width {width}, but this UNet "
                           f"expects {config.cross_attention_dim}.", "the text encoder from the same I2VGen-XL folder.")
    vae_config = inputs.vae.module.config
    if type(inputs.vae.module).__name__ != "AutoencoderKL" or int(vae_config.latent_channels) != 4:
        raise DVInputError("vae", f"{FAMILY.label}'s UNet takes the latents of a 4-channel AutoencoderKL; "
                           f"this is a {type(inputs.vae.module).__name__} with {vae_config.latent_channels}.",
                           "the VAE from the same I2VGen-XL folder.")
    for role in ("image_encoder", "feature_extractor"):
        if role not in model.companions:
            raise DVInputError("model", f"this model came without its {role}.",
                               "load I2VGen-XL with DVPipelineLoader from its diffusers folder.")
    projection = int(model.companions["image_encoder"].module.config.projection_dim)
    if projection != int(config.cross_attention_dim):
        raise DVInputError("model", f"the image encoder's embeddings have width {projection}, but the UNet "
                           f"expects {config.cross_attention_dim}.", "an I2VGen-XL folder as saved by diffusers.")
    return cond


def sample(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
           inputs: SampleInputs) -> dict[str, Any]:
    cond = _check_inputs(model, params, inputs)
    host.load_to_device([model.managed, inputs.vae.managed, *model.managed_companions()])
    pipe = _pipeline(unet=model.module, vae=inputs.vae.module, scheduler=scheduler.create(),
                     image_encoder=model.companions["image_encoder"].module,
                     feature_extractor=model.companions["feature_extractor"])
    dtype, device = model.managed.dtype, model.managed.device
    call_kwargs = {
        "image": pipeline_image("image", inputs.image, params.height, params.width, inputs.options),
        "prompt_embeds": cond.embeds["prompt_embeds"].to(device=device, dtype=dtype),
        "negative_prompt_embeds": cond.embeds["negative_prompt_embeds"].to(device=device, dtype=dtype),
        "height": params.height, "width": params.width, "num_frames": params.num_frames,
        "num_inference_steps": params.num_inference_steps, "guidance_scale": params.guidance_scale,
        "target_fps": int(inputs.option("target_fps", 16)),
    }
    # run_denoise seeds torch's global RNG too: the pipeline samples the image's VAE posterior with it.
    latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, lambda x: x)
    return {"samples": latents.to(host.intermediate_device()), "dv_family": FAMILY.id,
            "dv_num_frames": params.num_frames}


def decode(vae: DVVAE, latent: dict[str, Any], settings: decode_util.DecodeSettings):
    """As I2VGenXLPipeline.decode_latents: decode_chunk_size frames per VAE call (0 = the pipeline's 1). An
    image VAE decodes every frame on its own, so the chunk size only trades memory for speed."""
    return decode_util.decode_image_vae(vae, latent, settings.chunk or DEFAULT_DECODE_CHUNK, settings,
                                       do_resize=False)
