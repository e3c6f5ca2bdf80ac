"""The shared drivers every family module (families/<id>.py) uses around its diffusers pipelines.

`pipeline` (driving a pipeline's own __call__ as the loop: progress, interrupt, previews, seeding), `validate`
(frame/size/conditioning checks), `decode` and `decode_auto` (chunking, tiling, progress per chunk, IMAGE
conversion, out-of-memory retries), `clip_text` (prompt encoding through a pipeline's encode_prompt) and
`image_input` (IMAGE inputs as the pipelines take them). The contract a family module keeps is
`families.spec.FamilyGlue`.
"""
