"""Wan2.2-Animate (a Wan variant: WanAnimateTransformer3DModel): a character image in DVSampler's 'image', pose and
face videos (and for replace mode a background and a mask video) through DVWanOptions; the node graph against
diffusers' WanAnimatePipeline in both modes and over several segments, and its bad inputs."""

from __future__ import annotations

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.options import NODES as OPTION_NODES
from parity import Shot, as_pil, assert_parity, graph_frames, independent, reference_frames, tiny_model_fixtures

PROMPT, NEGATIVE = "a robot dances in a bright studio", "blurry, static"
W, H, F, STEPS, SEED = 16, 16, 9, 2, 3
FACE = 16  # the tiny model's motion_encoder_size
SHOT = Shot(W, H, F, STEPS, guidance=1.0, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=512)
WanOptions = next(node for node in OPTION_NODES if node.__name__ == "DVWanOptions")

animate_path, animate_parts = tiny_model_fixtures("wan_animate", "tiny-wan-animate")
t2v_path, t2v_parts = tiny_model_fixtures("wan")


def clip(count: int, height: int = H, width: int = W, phase: float = 0.0) -> torch.Tensor:
    """IMAGE [count, H, W, 3] at 8-bit values: a bar that moves, a ring that grows, a ramp (`phase` varies it)."""
    x = torch.arange(width)[None, :].float()
    y = torch.arange(height)[:, None].float()
    frames = []
    for t in range(count):
        bar = ((x - 2 - t - phase * width).abs() < 2).float() * torch.ones_like(y)
        ring = ((((x - width / 2) ** 2 + (y - height / 2) ** 2).sqrt() - 2 - t % 4).abs() < 1.0).float()
        frames.append(torch.stack([bar, ring, ((x / width + phase) % 1) * torch.ones_like(y)], -1))
    return (torch.stack(frames) * 255).round() / 255


def box_mask(count: int = F, height: int = H, width: int = W) -> torch.Tensor:
    """MASK [count, H, W]: 1 (the character goes here) in a box that moves right, 0 (keep the background)."""
    mask = torch.zeros(count, height, width)
    for t in range(count):
        mask[t, 3:13, 2 + t // 2:9 + t // 2] = 1.0
    return mask


@independent
def pil_masks(mask: torch.Tensor) -> list:
    """MASK frames as 8-bit "L" images, with plain numpy and PIL."""
    from PIL import Image

    return [Image.fromarray((frame.numpy() * 255).round().astype("uint8")) for frame in mask]


CHARACTER = clip(1, phase=0.3)


def videos(count: int = F, replace: bool = False) -> dict:
    made = {"pose_video": clip(count), "face_video": clip(count, FACE, FACE, phase=0.5)}
    if replace:
        made |= {"background_video": clip(count, phase=0.7), "mask_video": box_mask(count)}
    return made


def options(**values):
    widgets = {"guidance_scale_2": -1.0, "strength": 0.8, "conditioning_scale": 1.0, "mode": "animate",
               "segment_frame_length": 77, "prev_segment_conditioning_frames": 1, "motion_encode_batch_size": 0}
    return WanOptions().build(**(widgets | values))[0]


def graph(shot: Shot, parts, conditioning=None, **values):
    encoded = {} if conditioning is None else {"conditioning": conditioning}  # else DVTextEncode runs
    return graph_frames(parts, shot, vae=parts[1], image=CHARACTER, options=options(**values), **encoded)


@pytest.fixture(scope="module")
def cond(animate_parts):
    """The shot's prompt encoded once, for the tests that are not about parity."""
    from parity import encode_prompt

    return encode_prompt(animate_parts, SHOT)


def reference(path, shot: Shot, **kwargs):
    from diffusers import WanAnimatePipeline

    for name in ("pose_video", "face_video", "background_video"):
        if name in kwargs:
            kwargs[name] = as_pil(kwargs[name])
    if "mask_video" in kwargs:
        mask = kwargs["mask_video"]
        kwargs["mask_video"] = pil_masks(mask) * (shot.frames if len(mask) == 1 else 1)
    return reference_frames(WanAnimatePipeline.from_pretrained(path), shot, image=as_pil(CHARACTER)[0], **kwargs)


def refused(parts, conditioning, input_name: str, says: str, shot: Shot = SHOT, image=CHARACTER, **values) -> str:
    """The run fails before sampling with a DVInputError naming DVSampler, the input and what is valid."""
    with pytest.raises(DVInputError) as info:
        graph_frames(parts, shot, vae=parts[1], image=image, conditioning=conditioning, options=options(**values))
    message = str(info.value)
    assert f"DVSampler: input '{input_name}'" in message and says in message and "Valid:" in message, message
    return message


def test_animate_model_is_a_wan_variant(animate_parts):
    family = animate_parts[0].family
    assert (family.id, family.variant, family.label) == ("wan", "wan2.2-animate", "Wan2.2 Animate")
    assert family.frame_rule.is_valid(7) and family.frame_rule.is_valid(9) and not family.frame_rule.is_valid(1)
    assert family.defaults["guidance_scale"] == 1.0 and family.options_node == "DVWanOptions"


@pytest.mark.parametrize("guidance", [1.0, 4.0], ids=["no-cfg", "cfg"])
def test_animate_matches_pipeline(animate_parts, animate_path, guidance):
    """One segment of 9 frames; with guidance the pipeline's unconditional pass sees a blank face."""
    shot = SHOT.but(guidance=guidance)
    frames = graph(shot, animate_parts, segment_frame_length=9, **videos())
    assert frames.shape == (F, H, W, 3)
    diff = assert_parity(frames, reference(animate_path, shot, segment_frame_length=9, **videos()))
    print(f"Wan-Animate animate ({'cfg' if guidance > 1 else 'no cfg'}) parity: max |diff| {diff:.3g}")


@pytest.mark.parametrize("per_frame", [True, False], ids=["mask-per-frame", "one-mask"])
def test_replace_matches_pipeline(animate_parts, animate_path, per_frame):
    wires = videos(replace=True)
    if not per_frame:
        wires["mask_video"] = wires["mask_video"][:1]
    frames = graph(SHOT, animate_parts, mode="replace", segment_frame_length=9, **wires)
    diff = assert_parity(frames, reference(animate_path, SHOT, mode="replace", segment_frame_length=9, **wires))
    print(f"Wan-Animate replace ({'a mask per frame' if per_frame else 'one mask'}) parity: max |diff| {diff:.3g}")
    if per_frame:
        animated = graph(SHOT, animate_parts, segment_frame_length=9, **videos())
        assert (frames - animated).abs().max() > 1e-3  # the background and mask reach the model


@pytest.mark.parametrize(("mode", "frames", "segment", "prev"),
                         [("animate", 9, 5, 1), ("replace", 9, 5, 1), ("animate", 17, 13, 5), ("animate", 7, 9, 1)],
                         ids=["2-segments", "2-segments-replace", "2-segments-prev-5", "1-padded-segment"])
def test_segments_match_pipeline(animate_parts, animate_path, mode, frames, segment, prev):
    """Segments continue from the decoded end of the one before; the video is padded to whole segments and cut
    back to num_frames (17 of 21 with 5 frames carried over, 7 of 9 in one segment)."""
    shot = SHOT.but(frames=frames)
    wires = videos(frames, replace=mode == "replace")
    settings = {"mode": mode, "segment_frame_length": segment, "prev_segment_conditioning_frames": prev}
    out = graph(shot, animate_parts, **settings, **wires)
    assert out.shape == (frames, H, W, 3)
    diff = assert_parity(out, reference(animate_path, shot, **settings, **wires))
    print(f"Wan-Animate {mode}, {frames} frames in segments of {segment} (prev {prev}) parity: max |diff| {diff:.3g}")


def test_segmented_latent_decodes_each_segment_on_its_own(animate_parts, cond):
    """The LATENT holds the segments side by side; decoding them as one video would run the causal VAE across the
    seam (and keep the repeated frames)."""
    from parity import decode, sample_latent

    latent = sample_latent(animate_parts, SHOT, vae=animate_parts[1], image=CHARACTER, conditioning=cond,
                           options=options(segment_frame_length=5, **videos()))
    assert latent["dv_segment_latent_frames"] == 2 and latent["samples"].shape[2] == 4
    whole = decode(animate_parts, {"samples": latent["samples"]})
    assert whole.shape[0] == 13 and decode(animate_parts, latent).shape[0] == F


def test_motion_batch_size_keeps_the_frames(animate_parts, cond):
    """motion_encode_batch_size trades memory for speed only."""
    frames = graph(SHOT, animate_parts, cond, segment_frame_length=9, **videos())
    batched = graph(SHOT, animate_parts, cond, segment_frame_length=9, motion_encode_batch_size=2, **videos())
    assert (frames - batched).abs().max() < 1e-5


def test_pose_or_face_video_of_another_length_is_refused(animate_parts, cond):
    wires = videos()
    message = refused(animate_parts, cond, "pose_video", f"7 frames wired in, but num_frames is {F}",
                      **(wires | {"pose_video": clip(7)}))
    assert f"exactly {F} frames" in message
    refused(animate_parts, cond, "face_video", f"11 frames wired in, but num_frames is {F}",
            **(wires | {"face_video": clip(11, FACE, FACE)}))
    refused(animate_parts, cond, "background_video", f"exactly {F} frames", mode="replace",
            **(videos(replace=True) | {"background_video": clip(5)}))


def test_face_video_that_is_not_square_is_refused(animate_parts, cond):
    refused(animate_parts, cond, "face_video", "square face crops (ideally 16x16)",
            **(videos() | {"face_video": clip(F, FACE, 2 * FACE)}))


def test_missing_videos_are_refused(animate_parts, cond):
    wires = videos()
    refused(animate_parts, cond, "pose_video", "into DVWanOptions' pose_video", face_video=wires["face_video"])
    refused(animate_parts, cond, "face_video", "into DVWanOptions' face_video", pose_video=wires["pose_video"])
    refused(animate_parts, cond, "image", "the character's picture", image=None, **wires)


def test_replace_mode_needs_background_and_mask(animate_parts, cond):
    full = videos(replace=True)
    refused(animate_parts, cond, "background_video", "or mode 'animate'", mode="replace",
            **{k: v for k, v in full.items() if k != "background_video"})
    refused(animate_parts, cond, "mask_video", "or mode 'animate'", mode="replace",
            **{k: v for k, v in full.items() if k != "mask_video"})
    refused(animate_parts, cond, "background_video", "mode 'replace' on DVWanOptions", **full)  # animate ignores them
    refused(animate_parts, cond, "mask_video", "mode 'replace' on DVWanOptions",
            **{k: v for k, v in full.items() if k != "background_video"})
    refused(animate_parts, cond, "mask_video", "a mask of 16x16", mode="replace",
            **(full | {"mask_video": box_mask(F, 16, 32)}))
    refused(animate_parts, cond, "mask_video", f"{F} masks (one per frame)", mode="replace",
            **(full | {"mask_video": box_mask(3)}))


def test_segment_settings_are_checked(animate_parts, cond):
    message = refused(animate_parts, cond, "options", "segment_frame_length 6", segment_frame_length=6, **videos())
    assert "nearest: 5 or 9" in message
    refused(animate_parts, cond, "options", "1 or 5", prev_segment_conditioning_frames=3, **videos())
    message = refused(animate_parts, cond, "options", "at least 13 with prev_segment_conditioning_frames 5",
                      segment_frame_length=9, prev_segment_conditioning_frames=5, **videos())
    assert "nearest: 13." in message


def test_animate_options_on_another_wan_model_are_refused(t2v_parts):
    with pytest.raises(DVInputError) as info:
        graph_frames(t2v_parts, SHOT, options=options(pose_video=clip(F)))
    assert "input 'pose_video'" in str(info.value) and "a Wan2.2-Animate model" in str(info.value)
    with pytest.raises(DVInputError) as info:
        graph_frames(t2v_parts, SHOT, options=options(mode="replace"))
    assert "input 'options'" in str(info.value) and "mode back at 'animate'" in str(info.value)
