"""The plan file format: header, JSON manifest, aligned raw blobs. No pickle, every length checked."""
from .format import FORMAT_VERSION, BlobReader, BlobWriter, read_plan, write_plan  # noqa: F401
