"""Reusable Beam steps: sources, image reading, annotation backends, parsing, sinks."""
