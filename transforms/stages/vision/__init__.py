"""The Cloud Vision backend: batching, calls with backpressure, and the tie from answer to image."""
