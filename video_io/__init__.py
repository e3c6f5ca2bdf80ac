"""Video files in and out: formats as data, writing without overwriting, reading back, metadata."""
