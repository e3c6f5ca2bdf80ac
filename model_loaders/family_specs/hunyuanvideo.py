"""HunyuanVideo (Tencent): text-to-video with a Llama and a CLIP text encoder, a flow-matching DiT with
embedded (distilled) guidance, and a causal 3D VAE."""

from ..families import Family, FrameRule, LatentGeometry, OptionSpec

FAMILY = Family(
    id="hunyuanvideo",
    label="HunyuanVideo",
    pipeline_classes={"t2v": "HunyuanVideoPipeline"},
    model_classes=("HunyuanVideoTransformer3DModel",),
    vae_classes=("AutoencoderKLHunyuanVideo",),
    # The Llama (text_encoder) is the one DVTextEncoderLoader is pointed at; the CLIP (text_encoder_2) comes
    # with it from the same folder.
    text_encoder_classes=("LlamaModel",),
    frame_rule=FrameRule(multiple=4, offset=1),
    size_multiple=16,  # VAE 8 x patch 2
    geometry=LatentGeometry(spatial=8, temporal=4, channels=16, scaling_factor=0.476986),
    glue="hunyuanvideo",
    order=30,
    comfy_latent_format="HunyuanVideo",
    flow_matching=True,
    # diffusers' HunyuanVideo example (hunyuanvideo-community/HunyuanVideo): 512x320, 61 frames, 30 steps,
    # saved at 15 fps; guidance 6.0 is the pipeline's default embedded guidance.
    defaults={"num_frames": 61, "fps": 15, "steps": 30, "guidance_scale": 6.0, "width": 512, "height": 320,
              "max_sequence_length": 256},
    options=(
        OptionSpec("true_cfg_scale", "FLOAT", 1.0, "True classifier-free guidance with the negative prompt, one "
                   "extra model pass per step; above 1 turns it on. DVSampler's guidance_scale is HunyuanVideo's "
                   "distilled (embedded) guidance, which needs no negative prompt.", 1.0, 30.0, 0.1),
    ),
    options_node="DVHunyuanVideoOptions",
    notes="guidance_scale is the distilled guidance embedded in the model: the negative prompt is only used when "
    "DVHunyuanVideoOptions sets true_cfg_scale above 1 (twice the compute). The prompt template's token count is "
    "measured with the loaded tokenizer rather than the fixed 95 of Llama-3's.",
)
