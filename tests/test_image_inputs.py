"""Image, video and control inputs reach every pipeline the way its diffusers guide passes them (PIL images,
lists of PIL frames), so inputs at another size and aspect give the reference's frames: each input here is an
8-bit PNG with pixel-scale detail at a non-integer scale of the render size, and each reference opens the
files with PIL and calls diffusers, with no code of the pack (parity.independent)."""

from __future__ import annotations

import os

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.options import DVImageInputOptions
from parity import (
    Shot,
    assert_parity,
    graph_frames,
    image_from_files,
    independent,
    load_parts,
    pattern_file,
    reference_frames,
)

PROMPT, NEGATIVE = "a red fox runs across the snow", "blurry"

# path -> (tiny model, the diffusers pipeline the guide uses, DVSampler input, the shot, pipeline extras that
# the graph's defaults set). Render sizes as the families' own tests; inputs at other sizes and aspects below.
CASES = {
    "cogvideox_i2v": ("cogvideox_i2v", "CogVideoXImageToVideoPipeline", "image",
                      Shot(64, 48, 9, 3, 6.0, 321, PROMPT, NEGATIVE, 226), {}),
    "cogvideox_v2v": ("cogvideox", "CogVideoXVideoToVideoPipeline", "video",
                      Shot(64, 48, 9, 3, 6.0, 321, PROMPT, NEGATIVE, 226), {"strength": 0.8}),
    "svd": ("svd", "StableVideoDiffusionPipeline", "image", Shot(64, 48, 6, 3, 3.0, 5),
            {"max_guidance_scale": 3.0, "decode_chunk_size": None}),
    "wan21_i2v": ("wan_i2v", "WanImageToVideoPipeline", "image",
                  Shot(32, 32, 5, 3, 5.0, 13, PROMPT, NEGATIVE, 512), {}),
    "wan22_i2v_a14b": ("wan22_i2v_a14b", "WanImageToVideoPipeline", "image",
                       Shot(32, 32, 9, 4, 5.0, 11, PROMPT, NEGATIVE, 16), {}),
    "wan22_ti2v_5b": ("wan22_ti2v_5b", "WanImageToVideoPipeline", "image",
                      Shot(32, 32, 9, 2, 5.0, 11, PROMPT, NEGATIVE, 16), {}),
    "ltx_i2v": ("ltx", "LTXImageToVideoPipeline", "image", Shot(64, 32, 9, 3, 3.0, 17, PROMPT, NEGATIVE, 128),
                {"frame_rate": 24, "decode_timestep": 0.03, "decode_noise_scale": 0.025}),
    "i2vgenxl": ("i2vgenxl", "I2VGenXLPipeline", "image", Shot(64, 48, 4, 3, 9.0, 7, PROMPT, NEGATIVE, 77),
                 {"target_fps": 16}),
}
# Input sizes: another aspect, and a scale that is no integer (nor its inverse) of any render size above.
INPUT_SIZE = (53, 37)


@pytest.fixture(scope="module")
def models(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    return {tiny: install_into_models_dir(tiny_models_dir, tiny, f"tiny-{tiny}") for tiny, *_ in CASES.values()}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    return [pattern_file(str(folder / f"frame_{i:02d}.png"), *INPUT_SIZE, shift=2 * i) for i in range(9)]


@independent
def reference(pipeline: str, folder: str, kind: str, paths: list[str], shot: Shot, extra: dict,
              resize_mode: str = "default") -> torch.Tensor:
    """The guide's call: the input opened with PIL (`load_image` / `load_video` give PIL images), fitted by
    diffusers' own VaeImageProcessor.resize when a resize mode is chosen."""
    import diffusers
    from diffusers.image_processor import VaeImageProcessor
    from PIL import Image

    with torch.inference_mode():  # as the nodes' weights are loaded (see test_i2vgenxl)
        pipe = getattr(diffusers, pipeline).from_pretrained(folder)
    if hasattr(pipe, "text_encoder") and pipeline == "I2VGenXLPipeline":
        object.__setattr__(pipe.text_encoder, "text_model", pipe.text_encoder)  # transformers 5 (NOTES.md)
    images = [Image.open(p).convert("RGB") for p in paths]
    if resize_mode != "default":
        images = [VaeImageProcessor().resize(i, shot.height, shot.width, resize_mode=resize_mode) for i in images]
    torch.manual_seed(shot.seed)  # I2VGen-XL samples the image's VAE posterior with the global RNG
    return reference_frames(pipe, shot, **{kind: images[0] if kind == "image" else images}, **extra)


def graph(parts, kind: str, paths: list[str], shot: Shot, resize_mode: str | None = None) -> torch.Tensor:
    options = DVImageInputOptions().build(resize_mode)[0] if resize_mode else None
    return graph_frames(parts, shot, vae=parts[1], options=options, **{kind: image_from_files(paths)})


@pytest.mark.parametrize("case", list(CASES))
def test_inputs_at_another_size_match_the_guides_call(case, models, files):
    tiny, pipeline, kind, shot, extra = CASES[case]
    paths = files[:shot.frames] if kind == "video" else files[:1]
    frames = graph(load_parts(f"tiny-{tiny}"), kind, paths, shot)
    assert_parity(frames, reference(pipeline, models[tiny], kind, paths, shot, extra))


@pytest.mark.parametrize("mode", ["fill", "crop"])
@pytest.mark.parametrize("case", ["ltx_i2v", "cogvideox_v2v"])
def test_resize_modes_are_diffusers_own(case, mode, models, files):
    tiny, pipeline, kind, shot, extra = CASES[case]
    paths = files[:shot.frames] if kind == "video" else files[:1]
    parts = load_parts(f"tiny-{tiny}")
    frames = graph(parts, kind, paths, shot, mode)
    assert_parity(frames, reference(pipeline, models[tiny], kind, paths, shot, extra, mode))
    assert (frames - graph(parts, kind, paths, shot)).abs().max().item() > 1e-3  # the mode changes the input


def test_the_pack_s_old_tensor_path_differs_from_the_guide(models, files):
    """What this file guards against: the same image handed over as a tensor is resized nearest-neighbour
    by the pipeline, and the frames differ from the guide's (PIL, Lanczos) at another size."""
    import diffusers

    tiny, pipeline, kind, shot, extra = CASES["cogvideox_i2v"]
    pipe = getattr(diffusers, pipeline).from_pretrained(models[tiny])
    as_tensor = reference_frames(pipe, shot, image=image_from_files(files[:1]).permute(0, 3, 1, 2))
    assert (as_tensor - reference(pipeline, models[tiny], kind, files[:1], shot, extra)).abs().max().item() > 1e-3


# ------------------------------------------------------------------------------------------ bad input


def refused(input_name: str, match: str, call) -> None:
    with pytest.raises(DVInputError, match=match) as info:
        call()
    assert f"DVSampler: input '{input_name}'" in str(info.value)


def test_a_one_pixel_image_is_refused(models):
    tiny, _, kind, shot, _ = CASES["ltx_i2v"]
    parts = load_parts(f"tiny-{tiny}")
    refused("image", "1x1 pixels", lambda: graph_frames(parts, shot, vae=parts[1], image=torch.rand(1, 1, 1, 3)))


def test_an_alpha_channel_is_dropped_as_the_pipelines_drop_it(models, files):
    tiny, _, kind, shot, _ = CASES["ltx_i2v"]
    parts = load_parts(f"tiny-{tiny}")
    rgb = image_from_files(files[:1])
    rgba = torch.cat([rgb, torch.rand(*rgb.shape[:3], 1)], dim=-1)
    assert torch.equal(graph_frames(parts, shot, vae=parts[1], image=rgba),
                       graph_frames(parts, shot, vae=parts[1], image=rgb))


def test_nan_in_an_image_is_refused(models):
    tiny, _, kind, shot, _ = CASES["svd"]
    parts = load_parts(f"tiny-{tiny}")
    image = torch.full((1, 48, 64, 3), float("nan"))
    refused("image", "NaN", lambda: graph_frames(parts, shot, vae=parts[1], image=image))


def test_a_control_video_of_another_aspect_needs_a_resize_mode(tiny_models_dir, files):
    from diffusers_video.nodes.controlnet import DVApplyControlNet, DVControlNetLoader
    from diffusers_video.tiny_models.cache import install_into_models_dir

    install_into_models_dir(tiny_models_dir, "sd15", "tiny-sd15")
    install_into_models_dir(tiny_models_dir, "controlnet", "tiny-controlnet", "controlnet")
    parts = load_parts("tiny-sd15")
    shot = Shot(32, 32, 4, 2, 7.5, 5, PROMPT, NEGATIVE, 77)
    with torch.inference_mode():
        (controlnet,) = DVControlNetLoader().load("tiny-controlnet", "fp32")
        (control,) = DVApplyControlNet().apply(controlnet, image_from_files(files[:4]), 1.0)
    refused("control", "aspect", lambda: graph_frames(parts, shot, control=control))
    options = DVImageInputOptions().build("crop")[0]
    frames = graph_frames(parts, shot, control=control, options=options)
    assert frames.shape == (4, 32, 32, 3)


def test_options_of_two_families_chained_are_refused(models):
    from diffusers_video.nodes.options import NODES

    wan_options = next(cls for cls in NODES if cls.__name__ == "DVWanOptions")
    ltx_options = next(cls for cls in NODES if cls.__name__ == "DVLTXOptions")
    tiny, _, kind, shot, _ = CASES["ltx_i2v"]
    parts = load_parts(f"tiny-{tiny}")
    (ltx,) = ltx_options().build(frame_rate=24, decode_timestep=0.03, decode_noise_scale=0.025, guidance_rescale=0.0)
    (chained,) = wan_options().build(guidance_scale_2=-1.0, options=ltx)
    refused("options", "different families", lambda: graph_frames(parts, shot, options=chained))
    (image_options,) = DVImageInputOptions().build("crop", options=ltx)
    assert image_options.family_ids == ("ltx",)


def test_the_table_in_the_docs_names_every_path():
    docs = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "image_inputs.md")
    with open(docs, encoding="utf-8") as f:
        text = f.read()
    for _, pipeline, *_ in CASES.values():
        assert pipeline in text, pipeline
    assert "StableDiffusionControlNetPipeline" in text and "StableDiffusionInstructPix2PixPipeline" in text


# ------------------------------------------------------------------------------------------ SD1.5 frames


@pytest.fixture(scope="module")
def sd15(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    return {"sd": install_into_models_dir(tiny_models_dir, "sd15", "tiny-sd15"),
            "controlnet": install_into_models_dir(tiny_models_dir, "controlnet", "tiny-controlnet", "controlnet"),
            "pix2pix": install_into_models_dir(tiny_models_dir, "pix2pix", "tiny-pix2pix")}


@pytest.fixture(scope="module")
def square_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("square")
    return [pattern_file(str(folder / f"control_{i:02d}.png"), 45, 45, shift=i) for i in range(4)]


SD_SHOT = Shot(32, 32, 4, 2, 7.5, 5, PROMPT, NEGATIVE, 77)


@independent
def controlnet_reference(folders: dict, paths: list[str], shot: Shot, resize_mode: str = "default") -> torch.Tensor:
    """The guide's ControlNet video recipe (one starting latent for every frame), the control frames opened
    with PIL as `load_video` gives them."""
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline
    from diffusers.image_processor import VaeImageProcessor
    from PIL import Image

    pipe = StableDiffusionControlNetPipeline.from_pretrained(
        folders["sd"], controlnet=ControlNetModel.from_pretrained(folders["controlnet"]), safety_checker=None,
        requires_safety_checker=False)
    frames = [Image.open(p).convert("RGB") for p in paths]
    if resize_mode != "default":
        frames = [VaeImageProcessor().resize(f, shot.height, shot.width, resize_mode=resize_mode) for f in frames]
    factor = 2 ** (len(pipe.vae.config.block_out_channels) - 1)
    latents = torch.randn((1, 4, shot.height // factor, shot.width // factor),
                          generator=torch.Generator().manual_seed(shot.seed)).repeat(len(frames), 1, 1, 1)
    out = pipe(prompt=[shot.prompt] * len(frames), negative_prompt=[shot.negative] * len(frames), image=frames,
               latents=latents, height=shot.height, width=shot.width, num_inference_steps=shot.steps,
               guidance_scale=shot.guidance, controlnet_conditioning_scale=1.0,
               generator=torch.Generator().manual_seed(shot.seed), output_type="np")
    return torch.from_numpy(out.images)


def controlnet_graph(paths: list[str], shot: Shot, resize_mode: str | None = None) -> torch.Tensor:
    from diffusers_video.nodes.controlnet import DVApplyControlNet, DVControlNetLoader

    parts = load_parts("tiny-sd15")
    with torch.inference_mode():
        (controlnet,) = DVControlNetLoader().load("tiny-controlnet", "fp32")
        (control,) = DVApplyControlNet().apply(controlnet, image_from_files(paths), 1.0)
    options = DVImageInputOptions().build(resize_mode)[0] if resize_mode else None
    return graph_frames(parts, shot, control=control, options=options)


def test_control_frames_at_another_size_match_the_guides_call(sd15, square_files):
    assert_parity(controlnet_graph(square_files, SD_SHOT), controlnet_reference(sd15, square_files, SD_SHOT))


@pytest.mark.parametrize("mode", ["fill", "crop"])
def test_control_frames_of_another_aspect_with_a_resize_mode(sd15, files, mode):
    assert_parity(controlnet_graph(files[:4], SD_SHOT, mode), controlnet_reference(sd15, files[:4], SD_SHOT, mode))


@independent
def pix2pix_reference(folder: str, paths: list[str], shot: Shot, resize_mode: str) -> torch.Tensor:
    from diffusers import StableDiffusionInstructPix2PixPipeline
    from diffusers.image_processor import VaeImageProcessor
    from PIL import Image

    pipe = StableDiffusionInstructPix2PixPipeline.from_pretrained(folder, safety_checker=None,
                                                                  requires_safety_checker=False)
    frames = [VaeImageProcessor().resize(Image.open(p).convert("RGB"), shot.height, shot.width,
                                         resize_mode=resize_mode) for p in paths]
    out = pipe(prompt=[shot.prompt] * len(frames), negative_prompt=[shot.negative] * len(frames), image=frames,
               num_inference_steps=shot.steps, guidance_scale=shot.guidance, image_guidance_scale=1.5,
               generator=torch.Generator().manual_seed(shot.seed), output_type="np")
    return torch.from_numpy(out.images)


def test_a_video_to_edit_at_another_size_takes_a_resize_mode(sd15, files):
    """InstructPix2Pix keeps its input's size: another size is refused by default, fitted by a resize mode."""
    from diffusers_video.nodes.controlnet import DVInstructPix2PixOptions

    parts = load_parts("tiny-pix2pix")
    video = image_from_files(files[:4])
    (pix2pix,) = DVInstructPix2PixOptions().build(1.5)
    refused("video", "keeps the input's size", lambda: graph_frames(parts, SD_SHOT, vae=parts[1], video=video,
                                                                     options=pix2pix))
    (options,) = DVImageInputOptions().build("crop", options=pix2pix)
    assert_parity(graph_frames(parts, SD_SHOT, vae=parts[1], video=video, options=options),
                  pix2pix_reference(sd15["pix2pix"], files[:4], SD_SHOT, "crop"))
