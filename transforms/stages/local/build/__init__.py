"""Build-time tools: turn weight packages into ONNX files and generate committed data.

Nothing here runs on workers; it needs numpy and onnx only (no torch, no network).
"""
