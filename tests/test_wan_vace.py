"""Wan VACE (Wan2.1 and Wan2.2 A14B): a control or source video in DVSampler's 'video', a mask and reference
images through DVWanOptions; the node graph against diffusers' WanVACEPipeline, and its bad inputs."""

from __future__ import annotations

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.options import NODES as OPTION_NODES
from parity import Shot, as_pil, assert_parity, graph_frames, independent, reference_frames, tiny_model_fixtures

PROMPT, NEGATIVE = "a red kite flies over a green hill", "blurry, static"
W, H, F, STEPS, SEED = 48, 32, 5, 2, 5
SHOT = Shot(W, H, F, STEPS, guidance=5.0, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=512)
WanOptions = next(node for node in OPTION_NODES if node.__name__ == "DVWanOptions")

vace_path, vace_parts = tiny_model_fixtures("wan_vace", "tiny-wan-vace")
vace22_path, vace22_parts = tiny_model_fixtures("wan22_vace_a14b", "tiny-wan22-vace-a14b")
t2v_path, t2v_parts = tiny_model_fixtures("wan")


def clip(count: int = F, height: int = H, width: int = W) -> torch.Tensor:
    """A moving bar and a growing ring on a ramp, IMAGE [F, H, W, 3] at 8-bit values (what a loader gives)."""
    x = torch.arange(width)[None, :].float()
    y = torch.arange(height)[:, None].float()
    frames = []
    for t in range(count):
        bar = ((x - 4 - 3 * t).abs() < 3).float() * torch.ones_like(y)
        ring = ((((x - width / 2) ** 2 + (y - height / 2) ** 2).sqrt() - 4 - t).abs() < 1.5).float()
        frames.append(torch.stack([bar, ring, (x / width) * torch.ones_like(y)], -1))
    return (torch.stack(frames) * 255).round() / 255


def box_mask(count: int = F, height: int = H, width: int = W) -> torch.Tensor:
    """MASK [F, H, W]: 1 (generate) in a box that moves right, 0 (keep) elsewhere."""
    mask = torch.zeros(count, height, width)
    for t in range(count):
        mask[t, 8:24, 10 + t:30 + t] = 1.0
    return mask


@independent
def pil_masks(mask: torch.Tensor) -> list:
    """MASK frames as the "L" images diffusers' VACE guide passes, with plain numpy and PIL."""
    from PIL import Image

    return [Image.fromarray((frame.numpy() * 255).round().astype("uint8")) for frame in mask]


def options(**wires):
    (made,) = WanOptions().build(guidance_scale_2=-1.0, strength=0.8, conditioning_scale=wires.pop("scale", 1.0),
                                 **wires)
    return made


def graph(parts, shot: Shot = SHOT, **inputs):
    return graph_frames(parts, shot, vae=parts[1], **inputs)


def reference(path, shot: Shot = SHOT, **kwargs):
    from diffusers import WanVACEPipeline

    return reference_frames(WanVACEPipeline.from_pretrained(path), shot, **kwargs)


def refused(parts, input_name: str, says: str, shot: Shot = SHOT, **inputs) -> str:
    """The run fails before sampling with a DVInputError naming DVSampler, the input and what is valid."""
    with pytest.raises(DVInputError) as info:
        graph_frames(parts, shot, **inputs)
    message = str(info.value)
    assert f"DVSampler: input '{input_name}'" in message and says in message and "Valid:" in message, message
    return message


def test_vace_models_are_their_own_variants(vace_parts, vace22_parts):
    assert vace_parts[0].family.variant == "wan2.1-vace" and vace_parts[0].family.label == "Wan2.1 VACE"
    assert vace22_parts[0].family.variant == "wan2.2-vace-a14b" and vace22_parts[0].more_denoisers


@pytest.mark.parametrize("guidance", [5.0, 1.0], ids=["cfg", "no-cfg"])
def test_text_to_video_matches_pipeline(vace_parts, vace_path, guidance):
    """No video: the pipeline conditions on a blank video and an all-white mask, and so does the graph."""
    shot = SHOT.but(guidance=guidance)
    diff = assert_parity(graph(vace_parts, shot), reference(vace_path, shot))
    print(f"Wan VACE text-to-video ({'cfg' if guidance > 1 else 'no cfg'}) parity: max |diff| {diff:.3g}")


@pytest.mark.parametrize("scale", [1.0, 0.5], ids=["scale-1", "scale-0.5"])
def test_control_video_matches_pipeline(vace_parts, vace_path, scale):
    video = clip()
    frames = graph(vace_parts, video=video, options=options(scale=scale))
    diff = assert_parity(frames, reference(vace_path, video=as_pil(video), conditioning_scale=scale))
    print(f"Wan VACE control video (conditioning_scale {scale}) parity: max |diff| {diff:.3g}")
    if scale != 1.0:
        assert (frames - graph(vace_parts, video=video)).abs().max() > 1e-3  # the scale reaches the model


@pytest.mark.parametrize("per_frame", [True, False], ids=["mask-per-frame", "one-mask"])
def test_inpaint_matches_pipeline(vace_parts, vace_path, per_frame):
    video, mask = clip(), box_mask()
    if not per_frame:
        mask = mask[:1]
    frames = graph(vace_parts, video=video, options=options(mask=mask))
    masks = pil_masks(mask) * (1 if per_frame else F)
    diff = assert_parity(frames, reference(vace_path, video=as_pil(video), mask=masks))
    print(f"Wan VACE inpaint ({'a mask per frame' if per_frame else 'one mask'}) parity: max |diff| {diff:.3g}")
    assert (frames - graph(vace_parts, video=video)).abs().max() > 1e-3  # the mask reaches the model


def test_reference_images_match_pipeline(vace_parts, vace_path):
    """Two references of another size: the pipeline fits each onto a white frame and puts its latent in front of
    the video's; the graph drops those latent frames before decoding, as the pipeline does."""
    video, refs = clip(), clip(2, 24, 24)
    frames = graph(vace_parts, video=video, options=options(reference_images=refs))
    assert frames.shape == (F, H, W, 3)
    diff = assert_parity(frames, reference(vace_path, video=as_pil(video), reference_images=as_pil(refs)))
    print(f"Wan VACE reference images parity: max |diff| {diff:.3g}")


@pytest.mark.parametrize("guidance_2", [-1.0, 2.0], ids=["same-guidance", "guidance_scale_2"])
def test_wan22_vace_a14b_matches_pipeline(vace22_parts, vace22_path, guidance_2):
    """4 steps: the tiny schedule crosses boundary_ratio 0.875, so both experts run."""
    shot, video, mask = SHOT.but(steps=4), clip(), box_mask()
    (made,) = WanOptions().build(guidance_scale_2=guidance_2, strength=0.8, conditioning_scale=1.0, mask=mask)
    extra = {} if guidance_2 < 0 else {"guidance_scale_2": guidance_2}
    diff = assert_parity(graph(vace22_parts, shot, video=video, options=made),
                         reference(vace22_path, shot, video=as_pil(video), mask=pil_masks(mask), **extra))
    print(f"Wan2.2 VACE A14B inpaint ({guidance_2=}) parity: max |diff| {diff:.3g}")


def test_control_video_of_another_length_is_refused(vace_parts):
    message = refused(vace_parts, "video", "7 frames wired in, but num_frames is 5", vae=vace_parts[1],
                      video=clip(7))
    assert "exactly 5 frames" in message


def test_control_video_of_another_size_is_refused_unless_a_resize_mode_fits_it(vace_parts, vace_path):
    from diffusers_video.nodes.options import DVImageInputOptions

    refused(vace_parts, "video", "frames of 48x32", vae=vace_parts[1], video=clip(F, 48, 64))
    (fit,) = DVImageInputOptions().build("crop", options=options())
    assert graph(vace_parts, video=clip(F, 48, 64), options=fit).shape == (F, H, W, 3)


def test_mask_of_another_size_or_length_is_refused(vace_parts):
    refused(vace_parts, "mask", "a mask of 48x32", vae=vace_parts[1], video=clip(),
            options=options(mask=box_mask(F, 32, 32)))
    refused(vace_parts, "mask", f"{F} masks (one per frame)", vae=vace_parts[1], video=clip(),
            options=options(mask=box_mask(3)))


def test_mask_without_a_video_is_refused(vace_parts):
    refused(vace_parts, "mask", "source frames into 'video'", vae=vace_parts[1], options=options(mask=box_mask()))


def test_vace_needs_its_vae_and_takes_no_first_frame(vace_parts):
    refused(vace_parts, "vae", "the VAE from the same folder")
    refused(vace_parts, "image", "reference_images", vae=vace_parts[1], image=clip(1))
    refused(vace_parts, "last_image", "disconnect 'last_image'", vae=vace_parts[1], options=options(last_image=clip(1)))


def test_vace_options_on_a_model_without_vace_are_refused(t2v_parts):
    refused(t2v_parts, "mask", "a Wan VACE model", options=options(mask=box_mask()))
    refused(t2v_parts, "reference_images", "a Wan VACE model", options=options(reference_images=clip(1)))
    refused(t2v_parts, "options", "conditioning_scale back at 1.0", options=options(scale=0.5))
