"""Image classification pipeline: entry point, options and job graph."""
