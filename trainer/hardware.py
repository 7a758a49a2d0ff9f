"""The hardware fingerprint: a coarse class that results compare within, and the details behind it."""

from __future__ import annotations

import logging
import os
import platform
import re
import subprocess
from dataclasses import dataclass

__all__ = ["Hardware", "hardware_fingerprint", "cpu_threads", "normalise_cpu_model", "MAX_MODEL_CHARS"]

MAX_MODEL_CHARS = 40
_CPU_NOISE = re.compile(r"\((?:R|TM|C)\)|@.*$|\b\d+-Core\b|\bCPU\b|\bProcessor\b|\bwith\b.*$|\bw/.*$", re.IGNORECASE)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hardware:
    """``hw_class`` is what time-budget results compare within (``cpu:AMD-EPYC-7B13:1t``, ``cuda:H100-80GB``,
    ``mps:M4``). On CPU it names the normalised CPU model and the threads one experiment trains on (the budget is
    CPU-seconds of those threads, so both decide what a second buys); older nodes published ``cpu:<cores>t``."""

    hw_class: str
    fingerprint: str
    device: str          # "cpu" | "cuda" | "mps"
    name: str            # accelerator or CPU model name
    count: int           # accelerators (1 for cpu)
    memory_gb: float     # accelerator memory, or system memory for cpu
    cpu_threads: int
    torch_version: str


def cpu_threads() -> int:
    """CPU threads this process may use (affinity-aware)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if platform.system() == "Darwin":
        try:
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                                 timeout=5, check=False)
            if out.stdout.strip():
                return out.stdout.strip()
        except OSError:
            pass
    return platform.processor() or platform.machine() or "unknown"


def normalise_cpu_model(name: str) -> str:
    """``AMD EPYC 7B13 64-Core Processor`` -> ``AMD-EPYC-7B13``; ``Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz`` ->
    ``Intel-Core-i7-8650U``: marks, clock speed, core counts and filler words dropped, words joined by ``-``."""
    text = _CPU_NOISE.sub(" ", name or "")
    words = re.findall(r"[A-Za-z0-9.+]+", text)
    model = "-".join(w.strip(".+") or w for w in words if w.strip(".+"))[:MAX_MODEL_CHARS].strip("-.+")
    return model or "unknown"


def _system_memory_gb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return 0.0


def _short_gpu(name: str, memory_gb: float) -> str:
    """``NVIDIA H100 80GB HBM3`` -> ``H100-80GB``; ``Apple M4 Pro`` -> ``M4-Pro``."""
    named = re.search(r"(\d+)\s*GB", name)
    text = re.sub(r"^(NVIDIA|AMD|Apple)\s+", "", name.strip())
    text = re.sub(r"\b(GeForce|Tesla|Radeon)\s+", "", text)
    words: list[str] = []
    for word in re.split(r"[\s_-]+", text):
        words.append(re.sub(r"[^A-Za-z0-9.]+", "", word))
        if any(ch.isdigit() for ch in word):
            break
    first = "-".join(w for w in words if w) or "gpu"
    size = f"{named.group(1)}GB" if named else (f"{round(memory_gb)}GB" if memory_gb else "")
    return f"{first}-{size}" if size else first


def hardware_fingerprint(device: str = "auto", train_threads: int | None = None) -> Hardware:
    """Describe the device experiments run on here (``device`` as the harness would pick it when ``"auto"``).

    ``train_threads``: the threads one CPU experiment trains on (default: the runner's, one).
    """
    import torch

    from trainer.limits import CPU_CLOCK_THREADS

    threads = cpu_threads()
    if device == "auto":
        if torch.cuda.is_available():
            device = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        count = torch.cuda.device_count()
        memory = props.total_memory / 2**30
        name = props.name
        hw_class = f"cuda:{_short_gpu(name, memory)}" + (f"x{count}" if count > 1 else "")
    elif device == "mps":
        name = _cpu_name()
        count, memory = 1, _system_memory_gb()
        chip = re.sub(r"^Apple\s+", "", name).replace(" ", "-") or "apple"
        hw_class = f"mps:{chip}"
    else:
        name, count, memory = _cpu_name(), 1, _system_memory_gb()
        hw_class = f"cpu:{normalise_cpu_model(name)}:{train_threads or CPU_CLOCK_THREADS}t"
    fingerprint = (f"{device}|{name}|count={count}|mem={memory:.1f}GB|threads={threads}|torch={torch.__version__}"
                   f"|{platform.system()}-{platform.machine()}")
    return Hardware(hw_class=hw_class, fingerprint=fingerprint, device=device, name=name, count=count,
                    memory_gb=round(memory, 1), cpu_threads=threads, torch_version=str(torch.__version__))
