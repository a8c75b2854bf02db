"""Runtime side: Runtime, ICudaEngine, IExecutionContext. Imports nothing from the builder."""
