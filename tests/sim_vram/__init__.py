"""The simulated-VRAM tier: ComfyUI's memory manager at a simulated GPU budget, with the released models built on
the meta device and weight moves replaced by bookkeeping (weights.py). record.py runs it against the real
comfy.model_management (COMFYUI_PATH) and writes decisions.json; standin.py reproduces that budget logic for CI."""
