"""The system tools some deploy tests run (installed by deploy/test_tools.sh)."""

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"


def run_tool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run a system tool; fails the test, naming the installer, when the tool is missing."""
    if shutil.which(args[0]) is None:
        raise AssertionError(f"{args[0]} is not installed: run `bash deploy/test_tools.sh`")
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)
