"""Builder side: Builder, IBuilderConfig, IOptimizationProfile and the build pipeline."""
