"""HunyuanVideo text-to-video: the node graph against HunyuanVideoPipeline on a tiny offline model."""

from __future__ import annotations

import os

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.families.hunyuanvideo import prompt_template
from diffusers_video.nodes.loaders import DVPipelineLoader, DVTextEncoderLoader
from diffusers_video.nodes.options import NODES as OPTION_NODES
from diffusers_video.nodes.sampling import DVSampler, DVScheduler, DVTextEncode
from parity import Shot, assert_parity, decode, encode_prompt, reference_frames, sample_latent, tiny_model_fixtures

PROMPT, NEGATIVE = "a panda plays guitar in the forest", "blurry, low quality"
# 17 frames = 5 latent frames: more than the VAE's 4-frame window, so its framewise decode is exercised.
W, H, F, STEPS, SEED, MAX_LEN, GUIDANCE = 64, 48, 17, 3, 11, 32, 6.0
SHOT = Shot(W, H, F, STEPS, GUIDANCE, SEED, prompt=PROMPT, negative=NEGATIVE, max_len=MAX_LEN)
Options = next(node for node in OPTION_NODES if node.__name__ == "DVHunyuanVideoOptions")
path, parts = tiny_model_fixtures("hunyuanvideo")


@pytest.fixture(scope="module")
def cond(parts):
    return encode_prompt(parts, SHOT)


def sample(parts, cond, guidance=GUIDANCE, true_cfg_scale=None, scheduler=None, model=None):
    opts = None if true_cfg_scale is None else Options().build(true_cfg_scale=true_cfg_scale)[0]
    return sample_latent((model or parts[0], *parts[1:]), SHOT.but(guidance=guidance), conditioning=cond,
                         scheduler=scheduler, options=opts)


def reference_pipe(path):
    from diffusers import HunyuanVideoPipeline

    return HunyuanVideoPipeline.from_pretrained(path)


def reference(pipe, true_cfg_scale=1.0, output_type="np"):
    # The same template as the nodes: the pipeline's default text, crop_start counted on this tokenizer.
    return reference_frames(pipe, SHOT, output_type, true_cfg_scale=true_cfg_scale,
                            prompt_template=prompt_template(pipe.tokenizer))


@pytest.fixture(scope="module")
def plain_latent(parts, cond):
    return sample(parts, cond)


@pytest.mark.parametrize("true_cfg_scale", [None, 1.0, 4.0], ids=["no-options", "embedded-only", "true-cfg"])
def test_graph_matches_pipeline(parts, path, cond, plain_latent, true_cfg_scale):
    latent = plain_latent if true_cfg_scale is None else sample(parts, cond, true_cfg_scale=true_cfg_scale)
    assert latent["samples"].shape == (1, 16, (F - 1) // 4 + 1, H // 8, W // 8)
    assert_parity(decode(parts, latent), reference(reference_pipe(path), true_cfg_scale or 1.0))


def test_true_cfg_and_embedded_guidance_change_the_video(parts, cond, plain_latent):
    assert torch.equal(sample(parts, cond, true_cfg_scale=1.0)["samples"], plain_latent["samples"])
    assert (sample(parts, cond, true_cfg_scale=4.0)["samples"] - plain_latent["samples"]).abs().max() > 1e-4
    assert (sample(parts, cond, guidance=1.0)["samples"] - plain_latent["samples"]).abs().max() > 1e-4


def test_template_crop_is_counted_on_the_loaded_tokenizer(parts, cond):
    from diffusers.pipelines.hunyuan_video.pipeline_hunyuan_video import DEFAULT_PROMPT_TEMPLATE

    tokenizer = parts[2].tokenizer
    template = prompt_template(tokenizer)
    assert template["template"] == DEFAULT_PROMPT_TEMPLATE["template"]
    assert template["crop_start"] != DEFAULT_PROMPT_TEMPLATE["crop_start"]  # 95 is Llama-3's count only
    ids = tokenizer(template["template"].format(PROMPT)).input_ids
    # What is left after the crop is the prompt and the template's closing <|eot_id|>, nothing of the template.
    assert tokenizer.decode(ids[template["crop_start"]:]) == PROMPT + "<|eot_id|>"
    assert int(cond.embeds["prompt_attention_mask"].sum()) == len(ids) - template["crop_start"]
    assert cond.embeds["prompt_embeds"].shape == (1, MAX_LEN, 16)
    assert cond.embeds["pooled_prompt_embeds"].shape == (1, 8)


def test_text_encoder_loader_brings_the_clip_encoder(parts, cond):
    assert type(parts[2].extras["text_encoder_2"].module).__name__ == "CLIPTextModel"  # DVPipelineLoader's too
    with torch.inference_mode():
        (te,) = DVTextEncoderLoader().load("tiny-hunyuanvideo/text_encoder", "fp32")
        (again,) = DVTextEncode().encode(te, PROMPT, NEGATIVE, MAX_LEN, True)
    assert type(te.extras["text_encoder_2"].module).__name__ == "CLIPTextModel"
    assert type(te.extras["tokenizer_2"]).__name__ == "CLIPTokenizer"
    assert set(again.embeds) == set(cond.embeds)
    for key, value in cond.embeds.items():
        assert torch.equal(again.embeds[key], value), key


def test_separately_loaded_components_give_the_same_video(parts, plain_latent):
    from diffusers_video.nodes.loaders import DVModelLoader, DVVAELoader

    with torch.inference_mode():
        (model,) = DVModelLoader().load("tiny-hunyuanvideo/transformer", "fp32")
        (vae,) = DVVAELoader().load("tiny-hunyuanvideo/vae", "fp32")
        (te,) = DVTextEncoderLoader().load("tiny-hunyuanvideo/text_encoder", "fp32")
        (again,) = DVTextEncode().encode(te, PROMPT, NEGATIVE, MAX_LEN, True)
    latent = sample(parts, again, model=model)
    assert torch.equal(latent["samples"], plain_latent["samples"])
    assert torch.equal(decode((model, vae), latent), decode(parts, plain_latent))


def test_left_padding_tokenizer_is_encoded_right_padded(parts, cond):
    tokenizer = parts[2].tokenizer
    tokenizer.padding_side = "left"
    try:
        with torch.inference_mode():
            (again,) = DVTextEncode().encode(parts[2], PROMPT, NEGATIVE, MAX_LEN, True)
        assert tokenizer.padding_side == "left"  # the shared tokenizer is left as it was
    finally:
        tokenizer.padding_side = "right"
    for key, value in cond.embeds.items():
        assert torch.equal(again.embeds[key], value), key


def test_default_chunks_match_the_pipeline_and_others_keep_the_size(parts, plain_latent):
    vae = parts[1].module
    full = decode(parts, plain_latent)  # the VAE's own 5-frame windows, as the pipeline decodes
    one_pass = decode(parts, plain_latent, chunk=5)  # a chunk covering every latent frame: no windows
    assert one_pass.shape == full.shape and (one_pass - full).abs().max() > 0  # blending differs a little
    assert (one_pass - full).abs().mean().item() < 0.05
    three = decode(parts, plain_latent, chunk=3)
    assert three.shape == full.shape
    assert torch.equal(decode(parts, plain_latent, chunk=1), three)  # raised to the smallest window, 3
    assert (vae.use_framewise_decoding, vae.tile_sample_min_num_frames, vae.tile_sample_stride_num_frames) == (
        True, 16, 12)


def test_tiled_decode_keeps_size(parts, plain_latent):
    full = decode(parts, plain_latent)
    tiled = decode(parts, plain_latent, tiling="on", tile=32, overlap=0.25)
    assert tiled.shape == full.shape
    # Tiles were decoded apart (the output differs), yet it is the same picture: random tiny weights and the
    # VAE's mid-block attention over each tile alone make seams larger than a trained VAE's (diffusers' own
    # test allows 0.6 at most).
    assert 0 < (tiled - full).abs().mean().item() < 0.15
    assert parts[1].module.use_tiling is False


def test_unipc_from_dvscheduler_runs(parts, cond):
    from diffusers_video.model_loaders.components import DVSchedulerSpec

    base = DVSchedulerSpec.from_config_dict("UniPCMultistepScheduler", {
        "prediction_type": "flow_prediction", "use_flow_sigmas": True, "flow_shift": 7.0})
    (spec,) = DVScheduler().build("UniPC", "from model", base=base)
    latent = sample(parts, cond, scheduler=spec)
    assert torch.isfinite(latent["samples"]).all()


def test_scheduler_without_custom_sigmas_is_refused(parts, cond):
    from diffusers_video.model_loaders.components import DVSchedulerSpec

    base = DVSchedulerSpec.from_config_dict("UniPCMultistepScheduler", {
        "prediction_type": "flow_prediction", "use_flow_sigmas": True, "flow_shift": 7.0})
    (spec,) = DVScheduler().build("DPM++ 2M", "from model", base=base)
    with pytest.raises(DVInputError) as info:
        sample(parts, cond, scheduler=spec)
    assert "DVSampler: input 'scheduler'" in str(info.value)


def test_ddpm_scheduler_refused_for_flow_model(parts, cond):
    (spec,) = DVScheduler().build("DDIM", "from model")
    with pytest.raises(DVInputError) as info:
        sample(parts, cond, scheduler=spec)
    assert "DVSampler: input 'scheduler'" in str(info.value) and "flow-matching" in str(info.value)


def test_frames_must_be_4k_plus_1(parts, cond):
    with pytest.raises(DVInputError) as info:
        DVSampler().sample(parts[0], W, H, 16, 1, GUIDANCE, 0, conditioning=cond)
    message = str(info.value)
    assert "DVSampler: input 'num_frames'" in message and "13 or 17" in message and "4k+1" in message


@pytest.mark.parametrize("width,height,bad", [(56, 48, "width"), (64, 40, "height")])
def test_size_must_be_multiple_of_16(parts, cond, width, height, bad):
    # 56 and 40 are whole latent pixels (VAE factor 8) but not whole 2x2 patches.
    with pytest.raises(DVInputError) as info:
        DVSampler().sample(parts[0], width, height, F, 1, GUIDANCE, 0, conditioning=cond)
    assert f"DVSampler: input '{bad}'" in str(info.value) and "16" in str(info.value)


def test_missing_conditioning_and_stray_image_refused(parts, cond):
    with pytest.raises(DVInputError) as info:
        DVSampler().sample(parts[0], W, H, F, 1, GUIDANCE, 0)
    assert "DVSampler: input 'conditioning'" in str(info.value)
    with pytest.raises(DVInputError) as info:
        DVSampler().sample(parts[0], W, H, F, 1, GUIDANCE, 0, conditioning=cond, image=torch.zeros(1, H, W, 3))
    assert "DVSampler: input 'image'" in str(info.value)


def test_clip_subfolder_as_text_encoder_refused(path):
    with torch.inference_mode():
        (clip_only,) = DVTextEncoderLoader().load("tiny-hunyuanvideo/text_encoder_2", "fp32")
    with pytest.raises(DVInputError) as info:
        DVTextEncode().encode(clip_only, PROMPT, NEGATIVE, MAX_LEN, True)
    assert "DVTextEncode: input 'text_encoder'" in str(info.value) and "Llama" in str(info.value)


def test_text_encoder_without_its_clip_refused(parts):
    from diffusers_video.model_loaders.components import DVTextEncoder

    te = parts[2]
    alone = DVTextEncoder(te.managed, te.tokenizer, te.family, te.source)
    with pytest.raises(DVInputError) as info:
        DVTextEncode().encode(alone, PROMPT, NEGATIVE, MAX_LEN, True)
    assert "DVTextEncode: input 'text_encoder'" in str(info.value) and "text_encoder_2" in str(info.value)


@pytest.mark.parametrize("key,encoder", [("prompt_embeds", "Llama"), ("pooled_prompt_embeds", "CLIP")])
def test_text_embeddings_of_wrong_width_refused(parts, cond, key, encoder):
    """A conditioning from text encoders that do not fit the transformer (e.g. another Llama or CLIP)."""
    from diffusers_video.model_loaders.components import DVConditioning

    embeds = dict(cond.embeds)
    for prefix in ("", "negative_"):
        embeds[prefix + key] = torch.zeros(*embeds[prefix + key].shape[:-1], 24)
    wrong = DVConditioning(cond.family, cond.prompt, cond.negative_prompt, embeds)
    with pytest.raises(DVInputError) as info:
        DVSampler().sample(parts[0], W, H, F, 1, GUIDANCE, 0, conditioning=wrong)
    assert "DVSampler: input 'conditioning'" in str(info.value) and encoder in str(info.value)


def test_other_family_conditioning_refused(parts, tiny_models_dir):
    with torch.inference_mode():
        _, _, cog_text_encoder, _ = DVPipelineLoader().load("tiny-cogvideox", "fp32")
        (cog_cond,) = DVTextEncode().encode(cog_text_encoder, PROMPT, NEGATIVE, 226, True)
    with pytest.raises(DVInputError) as info:
        DVSampler().sample(parts[0], W, H, F, 1, GUIDANCE, 0, conditioning=cog_cond)
    assert "DVSampler: input 'conditioning'" in str(info.value) and "CogVideoX" in str(info.value)


@pytest.mark.parametrize("max_len,encoder", [(8, "Llama"), (256, "CLIP")])
def test_long_prompt_refused_without_truncation(parts, max_len, encoder):
    with pytest.raises(DVInputError) as info, torch.inference_mode():
        DVTextEncode().encode(parts[2], " ".join([PROMPT] * 12), NEGATIVE, max_len, False)
    assert "DVTextEncode: input 'prompt'" in str(info.value) and encoder in str(info.value)


def test_long_prompt_truncated_with_a_note(parts):
    with torch.inference_mode():
        (long_cond,) = DVTextEncode().encode(parts[2], " ".join([PROMPT] * 12), NEGATIVE, MAX_LEN, True)
    assert any("Llama" in note for note in long_cond.notes) and any("CLIP" in note for note in long_cond.notes)
    assert long_cond.embeds["prompt_embeds"].shape == (1, MAX_LEN, 16)


def test_latent_of_another_family_refused(parts):
    with pytest.raises(DVInputError) as info:
        decode(parts, {"samples": torch.zeros(1, 16, 3, 6, 8), "dv_family": "wan"})
    assert "DVVAEDecode: input 'vae'" in str(info.value)
    with pytest.raises(DVInputError) as info:
        decode(parts, {"samples": torch.zeros(1, 12, 3, 6, 8)})
    assert "DVVAEDecode: input 'vae'" in str(info.value) and "16" in str(info.value)


def test_lora_matches_the_pipeline(parts, path, cond, plain_latent, tiny_models_dir):
    from diffusers_video.nodes.loaders import DVLoraLoader
    from diffusers_video.tiny_models.lora import build_lora

    build_lora(path, os.path.join(tiny_models_dir, "loras", "hunyuanvideo_a.safetensors"), seed=1)
    with torch.inference_mode():
        (with_lora,) = DVLoraLoader().load(parts[0], "hunyuanvideo_a.safetensors", 0.7)
    latent = sample(parts, cond, model=with_lora)
    pipe = reference_pipe(path)
    pipe.load_lora_weights(os.path.join(tiny_models_dir, "loras"), weight_name="hunyuanvideo_a.safetensors",
                           adapter_name="hunyuanvideo_a")
    pipe.set_adapters(["hunyuanvideo_a"], [0.7])
    assert_parity(latent["samples"], reference(pipe, output_type="latent"))
    assert (latent["samples"] - plain_latent["samples"]).abs().max().item() > 1e-4
    assert torch.equal(sample(parts, cond)["samples"], plain_latent["samples"])  # the plain model is untouched
