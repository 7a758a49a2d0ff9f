from __future__ import annotations

import re

import pytest

from protocol.messages import HW_CLASS_PATTERN
from trainer import hardware_fingerprint
from trainer.hardware import _short_gpu, cpu_threads, normalise_cpu_model


@pytest.mark.parametrize(("name", "model"), [
    ("AMD EPYC 7B13 64-Core Processor", "AMD-EPYC-7B13"),
    ("Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz", "Intel-Core-i7-8650U"),
    ("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "Intel-Xeon-Platinum-8375C"),
    ("Intel(R) Xeon(R) Processor", "Intel-Xeon"),
    ("AMD Ryzen 7 7840U w/ Radeon  780M Graphics", "AMD-Ryzen-7-7840U"),
    ("Apple M2 Pro", "Apple-M2-Pro"),
    ("", "unknown"),
    ("x" * 100 + " (R)!!", "x" * 40),
])
def test_cpu_model_is_normalised(name: str, model: str) -> None:
    assert normalise_cpu_model(name) == model
    assert re.fullmatch(HW_CLASS_PATTERN, f"cpu:{model}:1t")


@pytest.mark.parametrize(("name", "memory", "short"), [
    ("NVIDIA H100 80GB HBM3", 79.2, "H100-80GB"),
    ("NVIDIA A100-SXM4-80GB", 79.1, "A100-80GB"),
    ("NVIDIA GeForce RTX 4090", 23.6, "RTX-4090-24GB"),
    ("Tesla T4", 14.7, "T4-15GB"),
])
def test_short_gpu_names(name: str, memory: float, short: str) -> None:
    assert _short_gpu(name, memory) == short


def test_cpu_fingerprint() -> None:
    hw = hardware_fingerprint("cpu")
    assert hw.device == "cpu"
    assert hw.hw_class == f"cpu:{normalise_cpu_model(hw.name)}:1t"  # one training thread per experiment
    assert re.fullmatch(HW_CLASS_PATTERN, hw.hw_class) and len(hw.hw_class) <= 80
    assert hardware_fingerprint("cpu").hw_class == hw.hw_class  # the same machine always gives the same class
    assert hardware_fingerprint("cpu", train_threads=2).hw_class.endswith(":2t")
    assert hw.cpu_threads == cpu_threads()
    assert hw.torch_version in hw.fingerprint and f"threads={hw.cpu_threads}" in hw.fingerprint
