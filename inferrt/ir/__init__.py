"""The network IR (TensorRT's INetworkDefinition) and the builder's graph IR.

Where does the network-API method of op X go: ``INetworkDefinition.add_*`` methods of TensorRT's core layers
(activation, parametric_relu, elementwise, unary, convolution, deconvolution, pooling, matrix_multiply, constant,
identity, cast, shape, shuffle, concatenation, slice, reduce, softmax) are defined in ``network.py`` with their
layer classes in ``layer.py``. Every other ``add_*`` method, and its layer class, goes in ``api_<family>.py``
(``@network_method``; ``layer_class``), named after the ``ops/<family>.py`` module that defines the kind (see
``inferrt.ops`` for the families): TensorRT layers and inferrt extensions side by side (``add_max_pool_indices``
in api_pooling.py, ``add_arg_reduce`` in api_reduce.py). A family with no ``api_`` module yet gets one. Kinds the
importers build without a public method use ``network.internal.add_layer``. ``network.py`` imports every
``api_*`` module, so nothing else registers them.
"""
