"""Tools around the job that are not the pipeline: the Vision-compatible endpoint, the
report, the analytics, sample photos and the docs generator. The pipeline never imports them."""
