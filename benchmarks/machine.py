"""The two header lines every benchmark prints: the command it ran and the machine it ran on."""

from __future__ import annotations

import os
import platform
import sys


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def header(module: str) -> str:
    """`command: python -m MODULE ARGS` and `machine: ...` lines."""
    argv = [os.path.basename(sys.executable), "-m", module, *sys.argv[1:]]
    return (
        f"command: {' '.join(argv)}\n"
        f"machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
