"""Video nodes: frames to a video file with the workflow inside, and a video file back to frames."""

from __future__ import annotations

import os

from ..errors import DVInputError
from ..video_io.formats import FORMATS, READ_FORMATS

CATEGORY = "DiffusersVideo/video"


class DVVideoCombine:
    DISPLAY_NAME = "DV Video Combine"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Writes frames to an mp4 (h264), webm (vp9), gif or animated webp in the output folder, with the prompt "
        "and workflow embedded under ComfyUI's own keys, so dropping the file onto ComfyUI brings the workflow "
        "back. Never overwrites: each run gets the next number."
    )
    FUNCTION = "combine"
    OUTPUT_NODE = True
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("filename",)
    OUTPUT_TOOLTIPS = ("The full path of the written file.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "fps": ("FLOAT", {"default": 8.0, "min": 0.01, "max": 240.0, "step": 0.01,
                                  "tooltip": "Frames per second; use the model card's (CogVideoX 8, Wan 16, LTX 24). "
                                  "With a VIDEO wired, the VIDEO's own rate is used."}),
                "filename_prefix": ("STRING", {"default": "DiffusersVideo",
                                               "tooltip": "File name before the counter; may contain subfolders "
                                               "of the output folder, e.g. CogVideoX/run."}),
                "format": (list(FORMATS), {"default": "video/h264-mp4", "tooltip": "Container and codec."}),
                "crf": ("INT", {"default": 19, "min": 0, "max": 63,
                                "tooltip": "Quality for mp4 (0-51) and webm (0-63): lower is better and larger. "
                                "Not used by gif and webp."}),
                "loop_count": ("INT", {"default": 0, "min": 0, "max": 100,
                                       "tooltip": "gif/webp: how often the animation repeats; 0 loops forever."}),
                "pingpong": ("BOOLEAN", {"default": False,
                                         "tooltip": "Play forward then backward, for a seamless loop."}),
                "save_output": ("BOOLEAN", {"default": True,
                                            "tooltip": "Save to the output folder; off writes a preview to the "
                                            "temp folder only."}),
            },
            "optional": {
                "images": ("IMAGE", {"tooltip": "The frames, e.g. from DVVAEDecode (or wire a VIDEO instead)."}),
                "audio": ("AUDIO", {"tooltip": "Sound to mux into mp4 (AAC) or webm (Opus), cut to the video's "
                                    "length; the workflow metadata stays. gif and webp carry no sound."}),
                "video": ("VIDEO", {"tooltip": "A core VIDEO (Load Video, Create Video, ...) in place of "
                                    "'images': its frames, frame rate and sound are written."}),
            },
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO", "unique_id": "UNIQUE_ID"},
        }

    def combine(self, images=None, fps: float = 8.0, filename_prefix: str = "DiffusersVideo",
                format: str = "video/h264-mp4", crf: int = 19, loop_count: int = 0, pingpong: bool = False,
                save_output: bool = True, prompt: dict | None = None, extra_pnginfo: dict | None = None,
                unique_id: str | None = None, audio: dict | None = None, video=None):
        import logging

        import torch

        from .. import host
        from ..video_io.writer import write_video

        if video is not None:
            if images is not None:
                raise DVInputError("video", "both 'images' and a VIDEO are wired in.",
                                   "frames in 'images' (with 'fps' and 'audio'), or a VIDEO alone.")
            if not hasattr(video, "get_components"):
                raise DVInputError("video", f"got {type(video).__name__}, which is not a VIDEO.",
                                   "a VIDEO output, e.g. core's Load Video or DVLoadVideo's video.")
            images, video_fps, video_audio = host.video_parts(video)
            if audio is not None and video_audio is not None:
                raise DVInputError("audio", "the VIDEO has its own sound and an AUDIO is wired in too.",
                                   "disconnect 'audio' (the VIDEO's sound is written), or wire frames into "
                                   "'images' instead of the VIDEO.")
            audio = audio if audio is not None else video_audio
            if abs(video_fps - fps) > 1e-6:
                logging.getLogger("DiffusersVideo").warning(
                    "DVVideoCombine: the VIDEO's own rate %.3f fps is written; the fps widget (%.3f) applies to "
                    "'images' only.", video_fps, fps)
            fps = video_fps
        if images is None:
            raise DVInputError("images", "no frames: neither 'images' nor a VIDEO is wired in.",
                               "an IMAGE output (e.g. DVVAEDecode) into 'images', or a VIDEO into 'video'.")

        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[-1] not in (3, 4):
            raise DVInputError("images", "this is not a batch of frames [frames, height, width, 3].",
                               "an IMAGE output, e.g. from DVVAEDecode.")
        if images.shape[0] == 0:
            raise DVInputError("images", "no frames.", "at least one frame.")
        if fps <= 0:
            raise DVInputError("fps", f"{fps}.", "more than 0.")
        if format not in FORMATS:
            raise DVInputError("format", f"unknown format '{format}'.", ", ".join(FORMATS))
        if host.metadata_disabled():
            prompt, extra_pnginfo = None, None
        folder = host.output_directory() if save_output else host.temp_directory()
        if audio is not None and not (isinstance(audio, dict) and "waveform" in audio and "sample_rate" in audio):
            raise DVInputError("audio", "this is not ComfyUI AUDIO.",
                               "an AUDIO output, e.g. DVLoadVideo's audio or core's Load Audio.")
        saved = write_video(images, folder, filename_prefix, FORMATS[format], fps, crf, loop_count, pingpong,
                            prompt, extra_pnginfo, audio)
        for note in saved.notes:
            logging.getLogger("DiffusersVideo").info("DVVideoCombine: %s", note)
        preview = {"filename": saved.filename, "subfolder": saved.subfolder,
                   "type": "output" if save_output else "temp"}
        # The shape core's SaveVideo/SaveWEBM return, so the stock frontend plays the file in the node.
        return {"ui": {"images": [preview], "animated": (True,)}, "result": (saved.path,)}


LOAD = "DVLoadVideo"
READABLE = ", ".join(READ_FORMATS)


def _video_file(video: str | None, path: str | None) -> tuple[str, str]:
    """(full path, the input it came from) for DVLoadVideo: DVInputError for a file it may not read (host's
    read policy: one answer for missing and not allowed), or a format it does not read."""
    from .. import host

    if path and path.strip():
        input_name, shown = "path", path.strip().strip('"')  # Windows' "Copy as path" adds quotes
        full = host.readable_file(input_name, shown, "a video file name in ComfyUI's input folder (or 'name "
                                  "[output]'), or a full path inside an allowed folder", allow_absolute=True)
    else:
        input_name, shown = "video", video or ""
        if not shown:
            raise DVInputError(input_name, "no video chosen.",
                               "a file from the list (upload one with the button), or a full path in 'path'.")
        # also core's "name [output]" / "[temp]" annotations
        full = host.readable_file(input_name, shown, "a file name from the list (upload one with the button)")
    if os.path.splitext(full)[1].lower().lstrip(".") not in READ_FORMATS:
        raise DVInputError(input_name, f"'{os.path.basename(full)}' is not a video format this node reads.",
                           READABLE + ".")
    return full, input_name


class DVLoadVideo:
    DISPLAY_NAME = "DV Load Video"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Loads a video (mp4, webm, mov, mkv, gif, animated webp) from ComfyUI's input folder, or from a "
                   "path, as IMAGE frames with their count, frame rate and audio track. Frames can be capped, "
                   "skipped, thinned and resized while reading; phone videos come out upright. Re-queueing reads "
                   "the file again only when it has changed.")
    FUNCTION = "load"
    RETURN_TYPES = ("IMAGE", "INT", "FLOAT", "AUDIO", "VIDEO")
    RETURN_NAMES = ("frames", "frame_count", "fps", "audio", "video")
    OUTPUT_TOOLTIPS = ("The frames [F, H, W, 3].", "How many frames were loaded.",
                       "Frames per second of what was loaded (the file's rate divided by select_every_nth), so "
                       "DVVideoCombine keeps the original speed.",
                       "The audio under the loaded frames (first audio track), or None when the file has none.",
                       "The same frames, rate and sound as one core VIDEO, for core's Save Video and video nodes.")

    @classmethod
    def INPUT_TYPES(cls):
        from .. import host

        return {
            "required": {
                # {"video_upload": True} is what core's LoadVideo serves (io.UploadType.video): the stock
                # frontend adds the upload button and the preview.
                "video": (host.list_input_files(READ_FORMATS), {
                    "video_upload": True,
                    "tooltip": f"A video in ComfyUI's input folder ({READABLE}); upload one with the button."}),
                "frame_load_cap": ("INT", {"default": 0, "min": 0, "max": 100000,
                                           "tooltip": "Load at most this many frames; 0 loads all."}),
                "skip_first_frames": ("INT", {"default": 0, "min": 0, "max": 100000,
                                              "tooltip": "Frames to skip at the start."}),
                "select_every_nth": ("INT", {"default": 1, "min": 1, "max": 1000,
                                             "tooltip": "Keep every n-th frame after the skipped ones (2 halves "
                                             "the frame rate)."}),
                "width": ("INT", {"default": 0, "min": 0, "max": 8192, "step": 8,
                                  "tooltip": "Resize to this width; 0 keeps the video's (or scales with height)."}),
                "height": ("INT", {"default": 0, "min": 0, "max": 8192, "step": 8,
                                   "tooltip": "Resize to this height; 0 keeps the video's (or scales with width)."}),
            },
            "optional": {
                "path": ("STRING", {"default": "", "tooltip": "A video file path instead of the list (relative "
                                    "to the input folder, or a full path inside ComfyUI's input, output or temp "
                                    "folder or a folder listed in the environment variable DV_ALLOWED_READ_DIRS); "
                                    "used when not empty."}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, video: str = "", path: str = ""):  # noqa: N802 - ComfyUI's name
        # Named here, 'video' skips ComfyUI's value-in-list check: a workflow that sets 'path' still validates
        # when its list value is not in this input folder, and core's "clip.mp4 [output]" names work. A path
        # that arrives through a link is not visible to validation, so the file is checked when the node runs.
        return True

    @classmethod
    def IS_CHANGED(cls, video: str = "", path: str = "", **_settings):  # noqa: N802 - ComfyUI's name
        """The file's fingerprint: an unchanged file is not read again, a replaced one is, even when the copy
        kept the old size and mtime (the change time and inode still differ); no hashing of a large video."""
        try:
            full, _ = _video_file(video, path)
        except DVInputError:
            return float("nan")  # never equal: the error shows again on the next run
        stat = os.stat(full)
        return f"{full}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ctime_ns}|{stat.st_ino}"

    def load(self, video: str, frame_load_cap: int = 0, skip_first_frames: int = 0, select_every_nth: int = 1,
             width: int = 0, height: int = 0, path: str = ""):
        from .. import host
        from ..video_io.reader import NoFramesSelected, VideoReadError, load_video

        for name, value, low in (("frame_load_cap", frame_load_cap, 0), ("skip_first_frames", skip_first_frames, 0),
                                 ("select_every_nth", select_every_nth, 1), ("width", width, 0),
                                 ("height", height, 0)):
            if value < low:
                raise DVInputError(name, f"{value}.", f"{low} or more.")
        full, input_name = _video_file(video, path)
        try:
            loaded = load_video(full, frame_load_cap, skip_first_frames, select_every_nth, width, height)
        except VideoReadError as error:
            raise DVInputError(input_name, f"'{os.path.basename(full)}' could not be read as a video "
                               f"({error}).", f"an undamaged {READABLE} file.") from None
        except NoFramesSelected as error:
            raise DVInputError("skip_first_frames", f"skipping {skip_first_frames} leaves no frames: the "
                               f"video has {error.total}.", f"0..{error.total - 1}.") from None
        frames = loaded.frames.to(host.intermediate_device())
        return (frames, loaded.frame_count, loaded.fps, loaded.audio, host.make_video(frames, loaded.fps, loaded.audio))


NODES = [DVVideoCombine, DVLoadVideo]
