"""SkyReels-V2: the node graph against its five diffusers pipelines on tiny offline models (text-to-video,
image-to-video, and diffusion forcing from text, from an image and from a video to extend), long videos made
chunk by chunk with progress over every chunk and an interrupt between chunks, and the bad inputs."""

from __future__ import annotations

import pytest
import torch
from diffusers_video import host
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.options import NODES as OPTION_NODES
from parity import Shot, as_pil, assert_parity, graph_frames, reference_frames, tiny_model_fixtures

PROMPT, NEGATIVE = "a lighthouse on a cliff at dusk, waves breaking below", "blurry, static"
W, H, F, STEPS, SEED = 32, 32, 9, 2, 5
SHOT = Shot(W, H, F, STEPS, guidance=6.0, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=32)
# A long run: 21 frames (6 latent) in chunks of 13 (4 latent) overlapping by 5 (2 latent): two chunks.
LONG = SHOT.but(frames=21)
LONG_OPTIONS = {"base_num_frames": 13, "overlap_history": 5, "addnoise_condition": 20.0}
SkyReelsOptions = next(node for node in OPTION_NODES if node.__name__ == "DVSkyReelsV2Options")

path, parts = tiny_model_fixtures("skyreels_v2", "tiny-skyreels-v2")
i2v_path, i2v_parts = tiny_model_fixtures("skyreels_v2_i2v", "tiny-skyreels-v2-i2v")
df_path, df_parts = tiny_model_fixtures("skyreels_v2_df", "tiny-skyreels-v2-df")


def picture(shift: float) -> torch.Tensor:
    """IMAGE [1, H, W, 3] at 8-bit values: ramps and a diagonal band that `shift` moves."""
    y = torch.linspace(0, 1, H)[:, None]
    x = torch.linspace(0, 1, W)[None, :]
    band = (((x + y + shift) * 3) % 1 > 0.5).float()
    return (torch.stack([x * torch.ones_like(y), band, (1 - y) * torch.ones_like(x)], -1)[None] * 255).round() / 255


def video(count: int) -> torch.Tensor:
    return torch.cat([picture(t / count) for t in range(count)])


def options(**values):
    return SkyReelsOptions().build(**{"base_num_frames": 97, "overlap_history": 17, "addnoise_condition": 20.0,
                                      "ar_step": 0, "causal_block_size": 0, "fps": 24, **values})[0]


def df_reference(folder: str, task: str, shot: Shot, settings: dict, **inputs) -> torch.Tensor:
    """The diffusion-forcing pipeline of `task` on the diffusion-forcing folder. The global RNG is seeded as the
    node seeds it: addnoise_condition draws its noise without the generator."""
    import diffusers

    cls = getattr(diffusers, {"df": "SkyReelsV2DiffusionForcingPipeline",
                              "df_i2v": "SkyReelsV2DiffusionForcingImageToVideoPipeline",
                              "df_v2v": "SkyReelsV2DiffusionForcingVideoToVideoPipeline"}[task])
    pipe = cls.from_pretrained(folder)
    values = {"base_num_frames": 97, "overlap_history": 17, "addnoise_condition": 20.0, "ar_step": 0,
              "causal_block_size": None, "fps": 24, **settings}
    torch.manual_seed(shot.seed)
    return reference_frames(pipe, shot, **values, **inputs)


def reported(name: str, diff: float) -> None:
    print(f"SkyReels-V2 {name} parity: max |diff| {diff:.3g}")


# -------------------------------------------------------------------------------------------------- parity


@pytest.mark.parametrize("guidance", [6.0, 1.0], ids=["cfg", "no-cfg"])
def test_text_to_video_matches_pipeline(parts, path, guidance):
    from diffusers import SkyReelsV2Pipeline

    shot = SHOT.but(guidance=guidance)
    frames = graph_frames(parts, shot)
    assert frames.shape == (F, H, W, 3)
    reported(f"T2V guidance {guidance}", assert_parity(frames, reference_frames(
        SkyReelsV2Pipeline.from_pretrained(path), shot)))


def test_image_to_video_matches_pipeline(i2v_parts, i2v_path):
    from diffusers import SkyReelsV2ImageToVideoPipeline

    shot = SHOT.but(guidance=5.0, max_len=512)  # its image attention takes the last 512 tokens as text
    frames = graph_frames(i2v_parts, shot, vae=i2v_parts[1], image=picture(0.0))
    expected = reference_frames(SkyReelsV2ImageToVideoPipeline.from_pretrained(i2v_path), shot,
                                image=as_pil(picture(0.0))[0])
    reported("I2V", assert_parity(frames, expected))


def test_diffusion_forcing_short_video_matches_pipeline(df_parts, df_path):
    frames = graph_frames(df_parts, SHOT, options=options(fps=16))
    assert frames.shape == (F, H, W, 3)
    reported("DF T2V (one chunk)", assert_parity(frames, df_reference(df_path, "df", SHOT, {"fps": 16})))
    # fps reaches the DiT (the tiny DF model embeds it, as the released DF-1.3B does)
    assert (frames - graph_frames(df_parts, SHOT, options=options())).abs().max() > 1e-4


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "ar_step"])
def test_diffusion_forcing_long_video_matches_pipeline(df_parts, df_path, asynchronous):
    settings = {**LONG_OPTIONS, **({"ar_step": 1, "causal_block_size": 2} if asynchronous else {})}
    frames = graph_frames(df_parts, LONG, options=options(**settings))
    assert frames.shape == (21, H, W, 3)  # longer than one chunk (13 frames)
    name = "DF T2V long (2 chunks" + (", ar_step 1, blocks of 2)" if asynchronous else ")")
    reported(name, assert_parity(frames, df_reference(df_path, "df", LONG, settings)))
    # The DiT keeps its own block size after a run that set one.
    assert df_parts[0].module.config.num_frame_per_block == 1


def test_diffusion_forcing_image_to_video_matches_pipeline(df_parts, df_path):
    shot = SHOT.but(guidance=5.0)
    frames = graph_frames(df_parts, shot, vae=df_parts[1], image=picture(0.0), options=options())
    reported("DF I2V", assert_parity(frames, df_reference(df_path, "df_i2v", shot, {}, image=as_pil(picture(0.0))[0])))


def test_diffusion_forcing_first_last_frame_matches_pipeline(df_parts, df_path):
    shot = SHOT.but(guidance=5.0)
    first, last = picture(0.0), picture(0.5)
    frames = graph_frames(df_parts, shot, vae=df_parts[1], image=first, options=options(last_image=last))
    expected = df_reference(df_path, "df_i2v", shot, {}, image=as_pil(first)[0], last_image=as_pil(last)[0])
    reported("DF FLF2V", assert_parity(frames, expected))


def test_diffusion_forcing_long_image_to_video_matches_pipeline(df_parts, df_path):
    frames = graph_frames(df_parts, LONG, vae=df_parts[1], image=picture(0.0), options=options(**LONG_OPTIONS))
    expected = df_reference(df_path, "df_i2v", LONG, LONG_OPTIONS, image=as_pil(picture(0.0))[0])
    reported("DF I2V long (2 chunks)", assert_parity(frames, expected))


def test_video_extension_matches_pipeline(df_parts, df_path):
    """The extension comes out after the video it extends, as the pipeline returns it."""
    source = video(7)
    settings = {"base_num_frames": 9, "overlap_history": 5}
    shot = SHOT.but(frames=13)
    frames = graph_frames(df_parts, shot, vae=df_parts[1], video=source, options=options(**settings))
    assert frames.shape == (7 + 13, H, W, 3)
    expected = df_reference(df_path, "df_v2v", shot, settings, video=as_pil(source))
    reported("DF V2V (extension)", assert_parity(frames, expected))


# ---------------------------------------------------------------------------------- progress and interrupt


def test_long_run_counts_every_chunk_and_stops_between_chunks(df_parts, monkeypatch):
    calls, totals = [], []
    handle = df_parts[0].module.register_forward_hook(lambda *_: calls.append(1))
    original = host.Progress.update

    def update(self, n=1, preview=None):
        totals.append(self.total)
        if self.current + n == STEPS:  # the first chunk's last step: the user cancels now
            host.request_interrupt()
        original(self, n, preview)

    monkeypatch.setattr(host.Progress, "update", update)
    try:
        with pytest.raises(host.Interrupted):
            graph_frames(df_parts, LONG, options=options(**LONG_OPTIONS))
    finally:
        handle.remove()
    assert set(totals) == {2 * STEPS}  # one bar over both chunks' steps
    assert len(calls) == 2 * STEPS  # cond + uncond per step of the first chunk; the second never ran


# ---------------------------------------------------------------------------------------------- bad input


def refused(model_parts, input_name: str, says: str, shot: Shot = SHOT, **inputs) -> str:
    with pytest.raises(DVInputError) as info:
        graph_frames(model_parts, shot, **inputs)
    message = str(info.value)
    assert f"DVSampler: input '{input_name}'" in message and says in message and "Valid:" in message, message
    return message


def test_bad_inputs_are_refused_before_work(parts, i2v_parts, df_parts):
    vae = df_parts[1]
    refused(df_parts, "num_frames", "cannot produce 10 frames", SHOT.but(frames=10))
    refused(parts, "width", "16", SHOT.but(width=40))
    msg = refused(df_parts, "options", "overlap_history 13 is not below base_num_frames 13", LONG,
                  options=options(base_num_frames=13, overlap_history=13))
    assert "17 or 37" in msg
    refused(df_parts, "options", "overlap_history 6 does not map onto whole latent frames", LONG,
            options=options(base_num_frames=13, overlap_history=6))
    refused(df_parts, "options", "base_num_frames 12 does not map", LONG, options=options(base_num_frames=12))
    refused(df_parts, "options", "not a whole number of causal blocks of 3", LONG,
            options=options(**LONG_OPTIONS, ar_step=1, causal_block_size=3))
    refused(df_parts, "num_frames", "no more than overlap_history 5", SHOT.but(frames=5), vae=vae, video=video(7),
            options=options(base_num_frames=9, overlap_history=5))
    refused(df_parts, "video", "the video has 3 frames", vae=vae, video=video(3),
            options=options(base_num_frames=9, overlap_history=5))
    refused(df_parts, "vae", "encodes the video with its VAE", video=video(7), options=options(overlap_history=5))
    refused(df_parts, "video", "both an image and a video", vae=vae, video=video(7), image=picture(0.0))
    refused(df_parts, "last_image", "no first frame", options=options(last_image=picture(0.5)))
    refused(df_parts, "last_image", "longer than one chunk", LONG, vae=vae, image=picture(0.0),
            options=options(**LONG_OPTIONS, last_image=picture(0.5)))
    # a video extension needs a diffusion-forcing model; diffusion-forcing settings need one too
    refused(parts, "video", "cannot extend a video", vae=parts[1], video=video(7))
    refused(parts, "options", "sets ar_step 5", options=options(ar_step=5))
    refused(parts, "image", "cannot start from an image", vae=parts[1], image=picture(0.0))
    refused(i2v_parts, "image", "no image is wired in", SHOT.but(max_len=512))
    refused(i2v_parts, "conditioning", "exactly 512", vae=i2v_parts[1], image=picture(0.0))
    refused(i2v_parts, "last_image", "first frame only", SHOT.but(max_len=512), vae=i2v_parts[1],
            image=picture(0.0), options=options(last_image=picture(0.5)))


def test_family_and_variant_come_from_the_folders(parts, i2v_parts, df_parts):
    assert [p[0].family.variant for p in (parts, i2v_parts, df_parts)] == [
        "skyreels-v2-t2v", "skyreels-v2-i2v", "skyreels-v2-df"]
    assert df_parts[0].family.defaults["steps"] == 30


def test_transformer_loaded_alone_keeps_its_folders_pipeline(df_parts, df_path):
    """DVModelLoader on the diffusion-forcing folder's transformer still runs diffusion forcing: the pipeline
    class comes from the folder's model_index.json, as the DiT config is the text-to-video one."""
    from diffusers_video.nodes.loaders import DVModelLoader

    with torch.inference_mode():
        (model,) = DVModelLoader().load("tiny-skyreels-v2-df/transformer", "fp32")
    assert model.family.variant == "skyreels-v2-df"
    parts = (model, *df_parts[1:])
    assert_parity(graph_frames(parts, SHOT, options=options()), graph_frames(df_parts, SHOT, options=options()),
                  tolerance=0.0)
