"""transforms/stages/local/sessions.py: which model file a worker loads and with which options."""
from __future__ import annotations

import onnxruntime as ort
import pytest

from transforms.stages.local import sessions
from transforms.stages.local.sessions import SessionConfig, model_file, session_options, with_env


def test_model_file__int8_copy_when_present(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"x")
    (tmp_path / "m.int8.onnx").write_bytes(b"x")
    assert model_file(str(tmp_path), "m.onnx", "int8") == "m.int8.onnx"
    assert model_file(str(tmp_path), "m.onnx", "fp32") == "m.onnx"


def test_model_file__fp32_when_no_int8_copy(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"x")
    assert model_file(str(tmp_path), "m.onnx", "int8") == "m.onnx"


def test_with_env__knobs_override_defaults(monkeypatch):
    monkeypatch.setenv("LOCAL_ORT_OPT_LEVEL", "basic")
    monkeypatch.setenv("LOCAL_ORT_SPINNING", "1")
    monkeypatch.setenv("LOCAL_ORT_THREADS", "1")
    c = with_env(SessionConfig(precision="fp32"))
    assert (c.precision, c.opt_level, c.spinning, c.parallel, c.threads) == ("fp32", "basic", True, False, 1)


def test_session_options__config_threads_win_over_callers():
    o = session_options(2, SessionConfig(threads=1, opt_level="extended"))
    assert o.intra_op_num_threads == 1
    assert o.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    assert o.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert session_options(2, SessionConfig()).intra_op_num_threads == 2


def test_session_options__no_memory_arena_unless_asked(monkeypatch):
    assert session_options(1, SessionConfig()).enable_cpu_mem_arena is False
    monkeypatch.setenv("LOCAL_ORT_ARENA", "1")
    assert session_options(1, with_env(SessionConfig())).enable_cpu_mem_arena is True


def test_configure__unknown_precision_refused():
    with pytest.raises(ValueError, match="precision"):
        sessions.configure(SessionConfig(precision="int4"))
