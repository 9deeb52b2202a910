"""Every local model's onnxruntime session is made here, with one set of options.

`SessionConfig` holds what speed switches a worker process runs with: the model
precision (the int8 copy written by tools/quantize_models.py, or fp32) and
onnxruntime's session options. `LocalModels` sets it once per process before it
loads any model (`configure`), and every model class loads through `load_session`, so
an A/B of a switch changes nothing else.

Why these defaults (docs/local-backend.md, "Local backend speed: what was tried"): fp32, because the
int8 copies cost 0.6 of fp32's CPU time but do not yet give the same answers on the
quality photo set; graph optimisation "all" (layout and fusions), onnxruntime's best on
CPU; sequential execution, as these graphs are chains; the models in two lanes of one
thread each and no spinning of idle threads, which took the CPU per image from 211 ms
to 174 ms with byte-identical answers: a spinning or hand-off thread burns the core the
other lane needs. No CPU memory arena: the arena keeps the largest batch's activations
(the detector's, at 416 px) for the life of the process and grows by powers of two; with
it a worker process peaked at 1.0-1.4 GB on 100 ordinary photos, without it at 0.74-0.95
GB, at a speed within the run-to-run noise of the shared machine (`make bench BENCH=memory`).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace

import onnxruntime as ort

INT8_SUFFIX = ".int8.onnx"
PRECISIONS = ("int8", "fp32")
OPT_LEVELS = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionConfig:
    precision: str = "fp32"      # "int8": the .int8.onnx copy where one was built, else fp32
    opt_level: str = "all"       # key of OPT_LEVELS
    parallel: bool = False       # ORT_PARALLEL execution mode (branches side by side)
    spinning: bool = False       # idle intra-op threads spin instead of sleeping
    threads: int = 0             # intra-op threads of every session; 0 = what the model's caller asks
    lanes: bool = True           # models in two lanes of one thread each (handler.py), not intra-op threads
    arena: bool = False          # onnxruntime's CPU memory arena (see the docstring)


_config = SessionConfig()


def configure(config: SessionConfig) -> None:
    """The options every session made after this call in this process uses."""
    global _config
    if config.precision not in PRECISIONS or config.opt_level not in OPT_LEVELS:
        raise ValueError(f"unknown precision {config.precision!r} or optimisation level {config.opt_level!r}")
    _config = config


def current() -> SessionConfig:
    return _config


def with_env(config: SessionConfig) -> SessionConfig:
    """`config` with the bench's A/B knobs applied: LOCAL_ORT_OPT_LEVEL, LOCAL_ORT_PARALLEL=1,
    LOCAL_ORT_SPINNING=1, LOCAL_ORT_THREADS=N, LOCAL_LANES=0, LOCAL_ORT_ARENA=1. They change the speed
    (and memory) only, never the answers."""
    env = os.environ
    return replace(config, opt_level=env.get("LOCAL_ORT_OPT_LEVEL", config.opt_level),
                   threads=int(env.get("LOCAL_ORT_THREADS", config.threads)),
                   lanes=env.get("LOCAL_LANES", "1" if config.lanes else "0") == "1",
                   parallel=env.get("LOCAL_ORT_PARALLEL", "1" if config.parallel else "0") == "1",
                   spinning=env.get("LOCAL_ORT_SPINNING", "1" if config.spinning else "0") == "1",
                   arena=env.get("LOCAL_ORT_ARENA", "1" if config.arena else "0") == "1")


def model_file(model_dir: str, filename: str, precision: str) -> str:
    """The file to load for `filename` at `precision`: the int8 copy when asked for and
    present in `model_dir`, else the fp32 file."""
    from apache_beam.io.filesystems import FileSystems

    if precision == "int8" and filename.endswith(".onnx"):
        int8 = filename[: -len(".onnx")] + INT8_SUFFIX
        if FileSystems.exists(FileSystems.join(model_dir, int8)):
            return int8
        log.info("no %s in %s (tools/quantize_models.py writes it): %s runs in fp32", int8, model_dir, filename)
    return filename


def session_options(threads: int, config: SessionConfig | None = None) -> ort.SessionOptions:
    config = config or _config
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(config.threads or threads)
    options.graph_optimization_level = OPT_LEVELS[config.opt_level]
    options.execution_mode = ort.ExecutionMode.ORT_PARALLEL if config.parallel else ort.ExecutionMode.ORT_SEQUENTIAL
    spin = "1" if config.spinning else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    options.add_session_config_entry("session.inter_op.allow_spinning", spin)
    options.enable_cpu_mem_arena = config.arena
    return options


def load_session(model_dir: str, filename: str, threads: int = 0) -> ort.InferenceSession:
    """An onnxruntime CPU session for `model_dir`/`filename` (its int8 copy when the process's
    precision is int8), read through Beam's FileSystems so `model_dir` may be gs://.

    threads=0 lets onnxruntime choose (one per core); set it when several sessions or
    Beam threads share a worker's cores.
    """
    from apache_beam.io.filesystems import FileSystems

    path = FileSystems.join(model_dir, model_file(model_dir, filename, _config.precision))
    with FileSystems.open(path) as f:
        model_bytes = f.read()
    return ort.InferenceSession(model_bytes, sess_options=session_options(threads),
                                providers=["CPUExecutionProvider"])
