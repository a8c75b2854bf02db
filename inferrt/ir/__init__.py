"""The network IR (TensorRT's INetworkDefinition) and the builder's graph IR."""
