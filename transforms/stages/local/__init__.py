"""Offline models for the local backend: ImageNet labels, safe search, label hierarchy."""
