"""Output video formats as data, the way VideoHelperSuite keeps them: what the widget shows, how the file
is written, and where the workflow metadata goes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VideoFormat:
    name: str  # the DVVideoCombine widget value
    extension: str
    backend: str  # "ffmpeg" (imageio-ffmpeg's binary, fed raw frames) or "pillow"
    muxer: str = ""  # ffmpeg -f value
    codec_args: tuple[str, ...] = ()  # "{crf}" is replaced by the crf widget
    pixel_format: str = ""
    even_size: bool = False  # yuv420p needs even width and height
    crf_range: tuple[int, int] | None = None
    metadata: str = ""  # where prompt/workflow go: "container" tags, "exif" (as core), "comment" (gif)
    # ComfyUI's frontend restores workflows from mp4, webm and webp files but reads nothing from a gif, so a
    # gif gets the first frame as a PNG beside it (same name, .png) with the workflow in PNG text chunks,
    # as core's SaveImage writes them: dropping that PNG restores the graph.
    companion_png: bool = False
    audio_codec_args: tuple[str, ...] = ()  # how an AUDIO input is encoded; empty: the format carries no sound


FORMATS: dict[str, VideoFormat] = {
    f.name: f
    for f in (
        VideoFormat(
            "video/h264-mp4", "mp4", "ffmpeg", "mp4",
            ("-c:v", "libx264", "-preset", "medium", "-crf", "{crf}", "-movflags", "+faststart+use_metadata_tags"),
            "yuv420p", True, (0, 51), "container", audio_codec_args=("-c:a", "aac", "-b:a", "192k"),
        ),
        VideoFormat(
            "video/vp9-webm", "webm", "ffmpeg", "webm",
            ("-c:v", "libvpx-vp9", "-crf", "{crf}", "-b:v", "0", "-row-mt", "1"),
            "yuv420p", True, (0, 63), "container", audio_codec_args=("-c:a", "libopus", "-b:a", "128k"),
        ),
        # ffmpeg's gif and webp muxers cannot carry the metadata ComfyUI's frontend reads, so these two are
        # written with Pillow exactly as core's SaveAnimatedWEBP does (EXIF "workflow:{...}").
        VideoFormat("image/webp", "webp", "pillow", metadata="exif"),
        VideoFormat("image/gif", "gif", "pillow", metadata="comment", companion_png=True),
    )
}


# Files DVLoadVideo reads, by extension, and the library that decodes them: PyAV (FFmpeg) for real video
# containers; Pillow for gif and animated webp, because FFmpeg's webp decoder has no animation support.
READ_FORMATS: dict[str, str] = {
    "mp4": "pyav",
    "webm": "pyav",
    "mov": "pyav",
    "mkv": "pyav",
    "gif": "pillow",
    "webp": "pillow",
}
