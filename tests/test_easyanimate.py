"""EasyAnimate V5.1: the node graph against EasyAnimatePipeline, EasyAnimateControlPipeline and
EasyAnimateInpaintPipeline on tiny offline models (text-to-video, control, InP), and its bad inputs.

The control pipeline cannot run unpatched in diffusers 0.42.1 (huggingface/diffusers#13638): its __call__ passes
`text_encoder_index` to an encode_prompt that takes none, and decodes through a `decode_latents` it no longer
has. The reference for it is diffusers' class with exactly those two things mended and nothing else."""

from __future__ import annotations

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.options import NODES as OPTION_NODES
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from parity import Shot, as_pil, assert_parity, graph_frames, load_parts, reference_frames, tiny_model_fixtures

PROMPT, NEGATIVE = "a panda plays guitar in a bamboo forest", "blurry, low quality"
# Small: the Magvit's 3D convolutions take CPU's slow path. 256: encode_prompt's fixed length in the pipelines.
W, H, F, STEPS, SEED, MAX_LEN = 32, 16, 5, 2, 11, 256
SHOT = Shot(W, H, F, STEPS, 6.0, SEED, prompt=PROMPT, negative=NEGATIVE, max_len=MAX_LEN)
MEASURED: dict[str, float] = {}  # parity max |diff| per case, printed at the end with -s
EasyAnimateOptions = next(node for node in OPTION_NODES if node.__name__ == "DVEasyAnimateOptions")

path, parts = tiny_model_fixtures("easyanimate")
control_path, control_parts = tiny_model_fixtures("easyanimate_control", "tiny-easyanimate-control")
inpaint_path, inpaint_parts = tiny_model_fixtures("easyanimate_inpaint", "tiny-easyanimate-inpaint")


def picture(shift: float = 0.0, height: int = H, width: int = W) -> torch.Tensor:
    """IMAGE [1, H, W, 3]: smooth ramps with a moving disc, at 8-bit values (as Load Image gives)."""
    y = torch.linspace(0, 1, height)[:, None]
    x = torch.linspace(0, 1, width)[None, :]
    disc = (((x - 0.3 - shift) * width / height) ** 2 + (y - 0.5) ** 2 < 0.05).float()
    image = torch.stack([x * torch.ones_like(y), y * torch.ones_like(x), disc], -1)
    return (image * 255).round()[None] / 255


def clip(count: int, height: int = H, width: int = W) -> torch.Tensor:
    return torch.cat([picture(0.05 * t, height, width) for t in range(count)])


def left_half_mask(count: int = 1, height: int = H, width: int = W) -> torch.Tensor:
    mask = torch.zeros(count, height, width)
    mask[:, :, : width // 2] = 1.0
    return mask


def options(**values):
    return EasyAnimateOptions().build(**({"noise_aug_strength": 0.0563} | values))[0]


def _record(name: str, diff: float) -> None:
    MEASURED[name] = diff
    print(f"EasyAnimate {name} parity: max |diff| {diff:.3g}")


# ------------------------------------------------------------------------------------------- references


def control_pipeline_class():
    from diffusers import EasyAnimateControlPipeline

    class MendedControl(EasyAnimateControlPipeline):
        def encode_prompt(self, *args, text_encoder_index: int = 0, **kwargs):
            return super().encode_prompt(*args, **kwargs)

        def decode_latents(self, latents):  # as EasyAnimatePipeline decodes (the method PR #10626 dropped)
            return self.vae.decode(1 / self.vae.config.scaling_factor * latents, return_dict=False)[0]

    return MendedControl


def video_tensor(images: torch.Tensor, shot: Shot = SHOT) -> torch.Tensor:
    from diffusers.pipelines.easyanimate.pipeline_easyanimate_control import get_video_to_video_latent

    return get_video_to_video_latent(as_pil(images), shot.frames, (shot.height, shot.width))[0]


# ------------------------------------------------------------------------------------------- parity


@pytest.mark.parametrize("guidance", [6.0, 1.0], ids=["cfg", "no-cfg"])
def test_text_to_video_matches_pipeline(parts, path, guidance):
    from diffusers import EasyAnimatePipeline

    shot = SHOT.but(guidance=guidance)
    frames = graph_frames(parts, shot)
    assert frames.shape == (F, H, W, 3)
    _record(f"t2v-{guidance}", assert_parity(frames, reference_frames(EasyAnimatePipeline.from_pretrained(path), shot)))


def test_control_matches_pipeline(control_parts, control_path):
    video = clip(F)
    frames = graph_frames(control_parts, SHOT, vae=control_parts[1], video=video)
    pipe = control_pipeline_class().from_pretrained(control_path)
    _record("control", assert_parity(frames, reference_frames(pipe, SHOT, control_video=video_tensor(video))))
    inverted = graph_frames(control_parts, SHOT, vae=control_parts[1], video=1 - video)
    print(f"control steering: max |diff| {(frames - inverted).abs().max():.3g}")
    assert (frames - inverted).abs().max() > 1e-3  # the control video steers the result


def test_control_with_reference_image_matches_pipeline(control_parts, control_path):
    from diffusers.pipelines.easyanimate.pipeline_easyanimate_control import preprocess_image

    video, reference = clip(F), picture(0.3)
    frames = graph_frames(control_parts, SHOT, vae=control_parts[1], video=video, image=reference)
    pipe = control_pipeline_class().from_pretrained(control_path)
    ref_image = preprocess_image(as_pil(reference)[0], (H, W))[:, None][None]  # [1, 3, 1, H, W]
    expected = reference_frames(pipe, SHOT, control_video=video_tensor(video), ref_image=ref_image)
    _record("control+ref", assert_parity(frames, expected))


def test_image_to_video_matches_pipeline(inpaint_parts, inpaint_path):
    from diffusers import EasyAnimateInpaintPipeline
    from diffusers.pipelines.easyanimate.pipeline_easyanimate_inpaint import get_image_to_video_latent

    first = picture()
    frames = graph_frames(inpaint_parts, SHOT, vae=inpaint_parts[1], image=first)
    video, mask_video = get_image_to_video_latent(as_pil(first), None, F, (H, W))
    expected = reference_frames(EasyAnimateInpaintPipeline.from_pretrained(inpaint_path), SHOT, video=video,
                                mask_video=mask_video)
    _record("i2v", assert_parity(frames, expected))


def test_first_and_last_frame_match_pipeline(inpaint_parts, inpaint_path):
    from diffusers import EasyAnimateInpaintPipeline
    from diffusers.pipelines.easyanimate.pipeline_easyanimate_inpaint import get_image_to_video_latent

    first, last = picture(), picture(0.4)
    shot = SHOT.but(guidance=1.0)
    frames = graph_frames(inpaint_parts, shot, vae=inpaint_parts[1], image=first,
                          options=options(last_image=last, noise_aug_strength=0.1))
    video, mask_video = get_image_to_video_latent(as_pil(first), as_pil(last)[0], F, (H, W))
    expected = reference_frames(EasyAnimateInpaintPipeline.from_pretrained(inpaint_path), shot, video=video,
                                mask_video=mask_video, noise_aug_strength=0.1)
    _record("first+last", assert_parity(frames, expected))


def test_video_inpainting_matches_pipeline(inpaint_parts, inpaint_path):
    from diffusers import EasyAnimateInpaintPipeline

    video, mask = clip(F), left_half_mask()
    frames = graph_frames(inpaint_parts, SHOT, vae=inpaint_parts[1], video=video, options=options(mask=mask))
    mask_video = (mask >= 0.5).float().mul(255).expand(F, -1, -1)[None, None]  # 255 repaints, 0 keeps
    expected = reference_frames(EasyAnimateInpaintPipeline.from_pretrained(inpaint_path), SHOT,
                                video=video_tensor(video), mask_video=mask_video)
    _record("inpaint", assert_parity(frames, expected))


def test_inpaint_model_without_conditioning_makes_video_from_text(inpaint_parts, inpaint_path):
    from diffusers import EasyAnimateInpaintPipeline

    frames = graph_frames(inpaint_parts, SHOT)  # no VAE needed for sampling
    expected = reference_frames(EasyAnimateInpaintPipeline.from_pretrained(inpaint_path), SHOT)
    _record("InP t2v", assert_parity(frames, expected))


def test_vae_config_without_cache_mag_vae_still_inpaints(inpaint_parts):
    """diffusers' own save_pretrained drops cache_mag_vae (Magvit does not declare it), which the inpaint
    pipeline reads: the node supplies it for the run and leaves the loaded VAE's config as it was."""
    from diffusers.configuration_utils import FrozenDict

    vae = inpaint_parts[1].module
    expected = graph_frames(inpaint_parts, SHOT, vae=inpaint_parts[1], image=picture())
    original = vae._internal_dict
    vae._internal_dict = FrozenDict({k: v for k, v in original.items() if k != "cache_mag_vae"})
    try:
        frames = graph_frames(inpaint_parts, SHOT, vae=inpaint_parts[1], image=picture())
        assert "cache_mag_vae" not in vae.config
    finally:
        vae._internal_dict = original
    assert torch.equal(frames, expected)


def test_model_kinds_are_told_apart(parts, control_parts, inpaint_parts):
    from diffusers_video.families.easyanimate import model_kind

    assert [model_kind(p[0]) for p in (parts, control_parts, inpaint_parts)] == ["t2v", "control", "inpaint"]


def test_tiled_and_chunked_decode_keep_the_shape(parts):
    from parity import decode, sample_latent

    latent = sample_latent(parts, SHOT.but(steps=1))
    assert latent["samples"].shape == (1, 16, (F - 1) // 4 + 1, H // 8, W // 8)
    whole = decode(parts, latent)
    assert decode(parts, latent, chunk=2).shape == whole.shape
    assert decode(parts, latent, tiling="on", tile=16, overlap=0.25).shape == whole.shape


# ------------------------------------------------------------------------------------------- bad inputs


def refused(node: str, input_name: str, match: str, call) -> DVInputError:
    with pytest.raises(DVInputError, match=match) as info, torch.inference_mode():
        call()
    assert info.value.node == node and info.value.input_name == input_name
    assert f"{node}: input '{input_name}'" in str(info.value) and info.value.valid
    return info.value


@pytest.fixture(scope="module")
def cond(parts):
    with torch.inference_mode():
        return DVTextEncode().encode(parts[2], PROMPT, NEGATIVE, MAX_LEN, True)[0]


def sampler(model_parts, cond, **changes):
    args = {"width": W, "height": H, "num_frames": F, "num_inference_steps": STEPS, "guidance_scale": 6.0,
            "seed": SEED, "conditioning": cond, "vae": model_parts[1]} | changes
    return lambda: DVSampler().sample(model_parts[0], **args)


def test_bad_sizes_frames_and_text(parts, cond):
    refused("DVSampler", "num_frames", "cannot produce 12 frames.*nearest: 9 or 13",
            sampler(parts, cond, num_frames=12))
    refused("DVSampler", "width", "not divisible by 16.*nearest: 32 or 48", sampler(parts, cond, width=40))
    refused("DVSampler", "height", "not divisible by 16", sampler(parts, cond, height=24))
    refused("DVSampler", "conditioning", "nothing is wired in", sampler(parts, cond, conditioning=None))
    refused("DVTextEncode", "prompt", "tokens with the chat template, over max_sequence_length 32",
            lambda: DVTextEncode().encode(parts[2], " ".join(["panda"] * 40), NEGATIVE, 32, False))


def test_text_to_video_model_refuses_frames_and_inp_options(parts, cond):
    refused("DVSampler", "image", "text-to-video model; it takes no image", sampler(parts, cond, image=picture()))
    refused("DVSampler", "video", "takes no video", sampler(parts, cond, video=clip(F)))
    refused("DVSampler", "mask", "for EasyAnimate InP models",
            sampler(parts, cond, options=options(mask=left_half_mask())))
    refused("DVSampler", "options", "noise_aug_strength 0.2",
            sampler(parts, cond, options=options(noise_aug_strength=0.2)))


def test_control_inputs(control_parts, cond):
    refused("DVSampler", "video", "needs a control video", sampler(control_parts, cond))
    refused("DVSampler", "video", "3 control frames wired in, but num_frames is 5.*exactly 5",
            sampler(control_parts, cond, video=clip(3)))
    refused("DVSampler", "video", "9 control frames", sampler(control_parts, cond, video=clip(9)))
    refused("DVSampler", "vae", "encodes its conditioning frames with the VAE",
            sampler(control_parts, cond, video=clip(F), vae=None))
    refused("DVSampler", "video", "aspect", sampler(control_parts, cond, video=clip(F, 32, 32)))
    refused("DVSampler", "last_image", "for EasyAnimate InP models",
            sampler(control_parts, cond, video=clip(F), options=options(last_image=picture())))


def test_inpaint_inputs(inpaint_parts, cond):
    refused("DVSampler", "mask", "no video is wired in.*into DVSampler's 'video'",
            sampler(inpaint_parts, cond, options=options(mask=left_half_mask())))
    refused("DVSampler", "video", "no mask is wired in", sampler(inpaint_parts, cond, video=clip(F)))
    refused("DVSampler", "last_image", "no first frame",
            sampler(inpaint_parts, cond, options=options(last_image=picture())))
    refused("DVSampler", "video", "both a first frame and a video",
            sampler(inpaint_parts, cond, image=picture(), video=clip(F), options=options(mask=left_half_mask())))
    refused("DVSampler", "video", "3 frames wired in, but num_frames is 5",
            sampler(inpaint_parts, cond, video=clip(3), options=options(mask=left_half_mask())))
    refused("DVSampler", "mask", "the mask has 4 frames, the video 5.*one mask for every frame, or 5",
            sampler(inpaint_parts, cond, video=clip(F), options=options(mask=left_half_mask(4))))
    refused("DVSampler", "mask", "the mask is 32x32, the video 32x16.*a mask of the video's size",
            sampler(inpaint_parts, cond, video=clip(F), options=options(mask=left_half_mask(1, 32, 32))))
    refused("DVSampler", "vae", "encodes its conditioning frames with the VAE",
            sampler(inpaint_parts, cond, image=picture(), vae=None))


def test_other_familys_vae_and_text_encoder_are_refused(parts, control_parts, cond):
    _, cog_vae, cog_text_encoder, _ = load_parts("tiny-cogvideox")
    with torch.inference_mode():
        (cog_cond,) = DVTextEncode().encode(cog_text_encoder, PROMPT, NEGATIVE, 226, True)
    refused("DVSampler", "conditioning", "CogVideoX text encoder", sampler(parts, cog_cond))
    refused("DVSampler", "vae", "encodes with its Magvit VAE", sampler(control_parts, cond, vae=cog_vae, video=clip(F)))
