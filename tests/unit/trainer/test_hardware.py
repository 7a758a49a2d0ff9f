from __future__ import annotations

import re

import pytest

from trainer import hardware_fingerprint
from trainer.hardware import _short_gpu, cpu_threads


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
    assert hw.hw_class == f"cpu:{cpu_threads()}t"
    assert re.fullmatch(r"cpu:\d+t", hw.hw_class)
    assert hw.torch_version in hw.fingerprint and f"threads={hw.cpu_threads}" in hw.fingerprint
