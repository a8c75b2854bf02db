__version__ = "0.1.0"
#: The TensorRT API level inferrt implements (TensorRT 10.16's Python API): ``inferrt.__version__`` reports it, as
#: ``tensorrt.__version__`` does, so TensorRT code and tools (Polygraphy) that compare versions take their TensorRT 10
#: paths. inferrt's own release is ``inferrt.inferrt_version`` (this module's ``__version__``, the package version).
TENSORRT_API_VERSION = "10.16.0"
