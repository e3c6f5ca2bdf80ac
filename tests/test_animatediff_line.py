"""The AnimateDiff line beyond text-to-video: ControlNet, SparseCtrl, video-to-video (with and without a ControlNet),
SDXL, FreeNoise and FreeInit, each against its own diffusers pipeline on the same tiny components and seed, and
the inputs each refuses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.controlnet import DVApplyControlNet, DVControlNetLoader
from diffusers_video.nodes.loaders import DVApplyMotionAdapter, DVMotionAdapterLoader
from diffusers_video.nodes.options import NODES as OPTION_NODES
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from parity import Shot, assert_parity, graph_frames, load_parts, reference_frames, sample_latent
from PIL import Image

AnimateDiffOptions = next(node for node in OPTION_NODES if node.__name__ == "DVAnimateDiffOptions")
PROMPT, NEGATIVE = "a golden fox runs through a forest", "low quality"
W, H, F, STEPS, SEED = 32, 32, 6, 2, 21
SHOT = Shot(W, H, F, STEPS, guidance=7.5, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=77)
GUIDE_DDIM = {"clip_sample": False, "timestep_spacing": "linspace", "beta_schedule": "linear", "steps_offset": 1}


@pytest.fixture(scope="module")
def paths(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    return {
        "sd": install_into_models_dir(tiny_models_dir, "sd15", "tiny-sd15"),
        "sdxl": install_into_models_dir(tiny_models_dir, "sdxl", "tiny-sdxl"),
        "adapter": install_into_models_dir(tiny_models_dir, "motion_adapter", "tiny-motion-adapter",
                                           "animatediff_models"),
        "adapter_sdxl": install_into_models_dir(tiny_models_dir, "motion_adapter_sdxl", "tiny-motion-adapter-sdxl",
                                                "animatediff_models"),
        "controlnet": install_into_models_dir(tiny_models_dir, "controlnet", "tiny-controlnet", "controlnet"),
        "sparse": install_into_models_dir(tiny_models_dir, "sparse_controlnet", "tiny-sparsectrl", "controlnet"),
        "sparse_rgb": install_into_models_dir(tiny_models_dir, "sparse_controlnet_rgb", "tiny-sparsectrl-rgb",
                                              "controlnet"),
        "controlnet_sdxl": install_into_models_dir(tiny_models_dir, "controlnet_sdxl", "tiny-controlnet-sdxl",
                                                   "controlnet"),
    }


def _motion(parts, adapter: str):
    with torch.inference_mode():
        (loaded,) = DVMotionAdapterLoader().load(adapter, "fp32")
        (motion_model,) = DVApplyMotionAdapter().apply(parts[0], loaded)
    return (motion_model, *parts[1:])


@pytest.fixture(scope="module")
def sd_parts(paths):
    return load_parts("tiny-sd15")


@pytest.fixture(scope="module")
def parts(sd_parts):
    return _motion(sd_parts, "tiny-motion-adapter")


@pytest.fixture(scope="module")
def sdxl_image_parts(paths):
    return load_parts("tiny-sdxl")


@pytest.fixture(scope="module")
def sdxl_parts(sdxl_image_parts):
    return _motion(sdxl_image_parts, "tiny-motion-adapter-sdxl")


def _frames(count: int, offset: int = 0) -> list[Image.Image]:
    """Images with exact 8-bit values, so the graph's IMAGE -> PIL conversion gives the reference's PIL images."""
    rng = np.random.default_rng(offset)
    return [Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)) for _ in range(count)]


def _image_batch(images: list[Image.Image]) -> torch.Tensor:
    return torch.from_numpy(np.stack([np.asarray(image) for image in images])).float() / 255.0


def _control(name: str, images: list[Image.Image], strength: float = 1.0):
    with torch.inference_mode():
        (controlnet,) = DVControlNetLoader().load(name, "fp32")
        return DVApplyControlNet().apply(controlnet, _image_batch(images), strength)[0]


def _parity(what: str, graph: torch.Tensor, reference: torch.Tensor) -> None:
    print(f"parity {what}: max |diff| {assert_parity(graph, reference):.3g}")  # the figure the README quotes


def _options(**values):
    return AnimateDiffOptions().build(**values)[0]


def _reference(cls_name: str, paths, folder: str = "sd", adapter: str = "adapter", **components):
    import diffusers
    from diffusers import DDIMScheduler, MotionAdapter

    pipe = getattr(diffusers, cls_name).from_pretrained(
        paths[folder], motion_adapter=MotionAdapter.from_pretrained(paths[adapter]), **components)
    # The AnimateDiff guide's scheduler (SD1.5 and SDXL alike), as DVApplyMotionAdapter sets it.
    pipe.scheduler = DDIMScheduler.from_pretrained(paths[folder], subfolder="scheduler", **GUIDE_DDIM)
    return pipe


def _controlnet(path: str):
    from diffusers import ControlNetModel

    return ControlNetModel.from_pretrained(path)


def test_controlnet_matches_its_pipeline(parts, paths):
    images = _frames(F)
    graph = graph_frames(parts, SHOT, control=_control("tiny-controlnet", images, 0.8))
    pipe = _reference("AnimateDiffControlNetPipeline", paths, controlnet=_controlnet(paths["controlnet"]))
    reference = reference_frames(pipe, SHOT, conditioning_frames=images, controlnet_conditioning_scale=0.8)
    _parity("AnimateDiffControlNetPipeline", graph, reference)
    plain = graph_frames(parts, SHOT)
    assert (graph - plain).abs().max() > 1e-3  # the control really steers


def test_sparsectrl_matches_its_pipeline(parts, paths):
    from diffusers import SparseControlNetModel

    images = _frames(2, offset=1)
    options = _options(controlnet_frame_indices="0, 5")
    graph = graph_frames(parts, SHOT, control=_control("tiny-sparsectrl", images), options=options)
    pipe = _reference("AnimateDiffSparseControlNetPipeline", paths,
                      controlnet=SparseControlNetModel.from_pretrained(paths["sparse"]))
    reference = reference_frames(pipe, SHOT, conditioning_frames=images, controlnet_frame_indices=[0, 5])
    _parity("AnimateDiffSparseControlNetPipeline", graph, reference)
    other = graph_frames(parts, SHOT, control=_control("tiny-sparsectrl", images),
                         options=_options(controlnet_frame_indices="1, 3"))
    assert (graph - other).abs().max() > 1e-3  # the indices place the control


def test_rgb_sparsectrl_matches_its_pipeline(parts, paths):
    from diffusers import SparseControlNetModel

    images = _frames(1, offset=4)
    control = _control("tiny-sparsectrl-rgb", images)
    message = _refused(parts[0], parts[2], control=control)
    assert "DVSampler: input 'vae'" in message  # the RGB SparseCtrl encodes its images with the VAE
    graph = graph_frames(parts, SHOT, control=control, vae=parts[1], options=_options(controlnet_frame_indices="2"))
    pipe = _reference("AnimateDiffSparseControlNetPipeline", paths,
                      controlnet=SparseControlNetModel.from_pretrained(paths["sparse_rgb"]))
    torch.manual_seed(SHOT.seed)  # the pipeline samples the control images' latents from the global generator
    reference = reference_frames(pipe, SHOT, conditioning_frames=images, controlnet_frame_indices=[2])
    _parity("AnimateDiffSparseControlNetPipeline (RGB)", graph, reference)


@pytest.mark.parametrize("with_control", [False, True], ids=["v2v", "v2v-controlnet"])
def test_video_to_video_matches_its_pipeline(parts, paths, with_control):
    video, images = _frames(F, offset=2), _frames(F, offset=3)
    extra = {"control": _control("tiny-controlnet", images)} if with_control else {}
    graph = graph_frames(parts, SHOT, vae=parts[1], video=_image_batch(video), options=_options(strength=0.6),
                         **extra)
    if with_control:
        pipe = _reference("AnimateDiffVideoToVideoControlNetPipeline", paths,
                          controlnet=_controlnet(paths["controlnet"]))
        reference = reference_frames(pipe, SHOT, video=video, strength=0.6, conditioning_frames=images)
    else:
        pipe = _reference("AnimateDiffVideoToVideoPipeline", paths)
        reference = reference_frames(pipe, SHOT, video=video, strength=0.6)
    _parity(type(pipe).__name__, graph, reference)


@pytest.mark.parametrize("negative", [NEGATIVE, ""], ids=["negative", "empty-negative"])
def test_sdxl_matches_its_pipeline(sdxl_parts, paths, negative):
    shot = SHOT.but(negative=negative)
    graph = graph_frames(sdxl_parts, shot)
    pipe = _reference("AnimateDiffSDXLPipeline", paths, folder="sdxl", adapter="adapter_sdxl")
    # diffusers' UNetMotionModel.from_unet2d does not carry SDXL's add_embedding over (it stays random); the
    # graph copies it from the image UNet, so the reference gets the same trained weights.
    pipe.unet.add_embedding.load_state_dict(sdxl_parts[0].module.add_embedding.state_dict())
    # The pipeline called as a user would: no negative prompt at all when it is empty.
    reference = reference_frames(pipe, shot if negative else shot.but(negative=None))
    _parity(f"AnimateDiffSDXLPipeline ({negative or 'empty'} negative)", graph, reference)
    assert sdxl_parts[0].family.variant == "sdxl" and sdxl_parts[0].family.comfy_latent_format == "SDXL"
    assert sdxl_parts[0].geometry.scaling_factor == pytest.approx(0.13025)


def test_free_noise_matches_its_pipeline_and_leaves_the_model_alone(parts, paths):
    from diffusers.models.attention import BasicTransformerBlock

    options = _options(context_length=4, context_stride=2, weighting_scheme="flat")
    graph = graph_frames(parts, SHOT, options=options)
    pipe = _reference("AnimateDiffPipeline", paths)
    pipe.enable_free_noise(context_length=4, context_stride=2, weighting_scheme="flat")
    _parity("AnimateDiffPipeline + FreeNoise", graph, reference_frames(pipe, SHOT))
    blocks = [block for module in parts[0].module.modules() if hasattr(module, "motion_modules")
              for motion in module.motion_modules for block in motion.transformer_blocks]
    assert blocks and all(type(block) is BasicTransformerBlock for block in blocks)
    assert (graph - graph_frames(parts, SHOT)).abs().max() > 1e-4  # FreeNoise was on for that run only


def test_free_noise_makes_videos_longer_than_the_adapter(parts):
    long = SHOT.but(frames=40, steps=1, width=16, height=16)
    latent = sample_latent(parts, long, options=_options(context_length=16, context_stride=8))
    assert latent["samples"].shape[2] == 40


def test_free_init_matches_its_pipeline(parts, paths):
    options = _options(free_init_iterations=2, free_init_method="gaussian")
    graph = graph_frames(parts, SHOT, options=options)
    pipe = _reference("AnimateDiffPipeline", paths)
    pipe.enable_free_init(num_iters=2, method="gaussian")
    _parity("AnimateDiffPipeline + FreeInit", graph, reference_frames(pipe, SHOT))


# ------------------------------------------------------------------------------------------------ bad input


def _refused(model, text_encoder, frames=F, **inputs) -> str:
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 77, True)
        with pytest.raises(DVInputError) as info:
            DVSampler().sample(model, W, H, frames, 1, 7.5, 0, conditioning=cond, **inputs)
    return str(info.value)


def test_sparsectrl_with_more_control_images_than_frames(parts):
    message = _refused(parts[0], parts[2], frames=4, control=_control("tiny-sparsectrl", _frames(6)))
    assert "DVSampler: input 'control'" in message and "6 SparseCtrl control images for 4 frames" in message
    assert "at most 4 control images" in message


def test_sparsectrl_indices_past_the_video(parts):
    message = _refused(parts[0], parts[2], control=_control("tiny-sparsectrl", _frames(2)),
                       options=_options(controlnet_frame_indices="0, 8"))
    assert "DVSampler: input 'options'" in message and "controlnet_frame_indices [8]" in message
    assert f"from 0 to {F - 1}" in message
    message = _refused(parts[0], parts[2], control=_control("tiny-sparsectrl", _frames(2)),
                       options=_options(controlnet_frame_indices="3"))
    assert "input 'options'" in message and "exactly 2 indices" in message


def test_sd15_adapter_on_sdxl_and_the_reverse(sd_parts, sdxl_image_parts, paths):
    with torch.inference_mode():
        (sd_adapter,) = DVMotionAdapterLoader().load("tiny-motion-adapter", "fp32")
        (xl_adapter,) = DVMotionAdapterLoader().load("tiny-motion-adapter-sdxl", "fp32")
        with pytest.raises(DVInputError) as on_xl:
            DVApplyMotionAdapter().apply(sdxl_image_parts[0], sd_adapter)
        with pytest.raises(DVInputError) as on_sd:
            DVApplyMotionAdapter().apply(sd_parts[0], xl_adapter)
    assert "DVApplyMotionAdapter: input 'motion_adapter'" in str(on_xl.value)
    assert "SD1.5 motion adapter" in str(on_xl.value) and "an SDXL motion adapter" in str(on_xl.value)
    assert "DVApplyMotionAdapter: input 'motion_adapter'" in str(on_sd.value)
    assert "SDXL motion adapter" in str(on_sd.value) and "an SD1.5 motion adapter" in str(on_sd.value)


def test_controlnet_of_another_base(parts, sd_parts):
    control = _control("tiny-controlnet-sdxl", _frames(F))
    message = _refused(parts[0], parts[2], control=control)
    assert "DVSampler: input 'control'" in message and "made for SDXL" in message
    assert "a ControlNet trained for SD1.5" in message
    message = _refused(sd_parts[0], sd_parts[2], control=control)  # frame by frame (Text2Video-Zero) too
    assert "DVSampler: input 'control'" in message and "made for SDXL" in message


def test_controlnet_on_sdxl_and_sdxl_without_motion(sdxl_parts, sdxl_image_parts):
    message = _refused(sdxl_parts[0], sdxl_parts[2], control=_control("tiny-controlnet-sdxl", _frames(F)))
    assert "DVSampler: input 'control'" in message and "no AnimateDiff SDXL ControlNet" in message
    message = _refused(sdxl_image_parts[0], sdxl_image_parts[2])
    assert "DVSampler: input 'model'" in message and "SDXL motion adapter" in message


def test_sdxl_conditioning_on_sd15_and_back(parts, sdxl_parts):
    with torch.inference_mode():
        (xl_cond,) = DVTextEncode().encode(sdxl_parts[2], PROMPT, NEGATIVE, 77, True)
        with pytest.raises(DVInputError) as info:
            DVSampler().sample(parts[0], W, H, F, 1, 7.5, 0, conditioning=xl_cond)
    assert "DVSampler: input 'conditioning'" in str(info.value) and "SD1.5 model's text encoder" in str(info.value)


def test_control_frame_count_and_other_misfits(parts, sd_parts):
    message = _refused(parts[0], parts[2], control=_control("tiny-controlnet", _frames(F - 2)))
    assert "DVSampler: input 'control'" in message and f"{F} control frames" in message
    message = _refused(parts[0], parts[2], options=_options(strength=0.5))
    assert "DVSampler: input 'options'" in message and "no video is wired" in message
    message = _refused(parts[0], parts[2], video=_image_batch(_frames(F)))
    assert "DVSampler: input 'vae'" in message
    message = _refused(parts[0], parts[2], frames=40, options=_options(context_length=40))
    assert "DVSampler: input 'options'" in message and "at most 32" in message
    message = _refused(sd_parts[0], sd_parts[2], control=_control("tiny-sparsectrl", _frames(1)))
    assert "DVSampler: input 'control'" in message and "apply an SD1.5 motion adapter" in message
    message = _refused(parts[0], parts[2], control=_control("tiny-sparsectrl", _frames(1)),
                       options=_options(context_length=4))
    assert "DVSampler: input 'options'" in message and "FreeNoise" in message
