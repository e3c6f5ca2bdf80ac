"""Running the denoising loop and the VAE through the diffusers pipelines.

One glue module per family (named by `Family.glue` in model_loaders/family_specs/<family>.py) provides:

- `DEFAULT_SCHEDULER: DVSchedulerSpec`, used when neither the model folder nor DVScheduler gives one;
- `encode(node, text_encoder, prompt, negative_prompt, max_sequence_length, truncate) -> DVConditioning`
  (families driven by text), through the pipeline's own `encode_prompt`;
- `sample(node, model, scheduler, params: SampleParams, inputs: SampleInputs) -> LATENT dict` with
  "samples" as [B, C, F, H, W] and "dv_family" set, through the pipeline's own `__call__`
  (`pipeline.run_denoise` adds progress, interrupt, previews and seeding);
- `decode(node, vae, latent, settings: DecodeSettings) -> IMAGE`, exactly as the pipeline decodes.

Shared pieces: `pipeline` (driving a pipeline), `validate` (frame/size/conditioning checks), `decode`
(chunking, tiling, progress per chunk, IMAGE conversion). Glue modules import diffusers inside functions,
so importing the pack stays cheap.
"""
