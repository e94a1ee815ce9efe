#!/usr/bin/env bash
# Creates .venv with the project and its test tools, once (again when pyproject.toml changes).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Python 3.11 or newer is needed as \$PYTHON (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    # Debian's python3 ships venv separately
    if [ "$(id -u)" = 0 ]; then
      DEBIAN_FRONTEND=noninteractive apt-get update -q && apt-get install -y -q python3-venv
      "$PYTHON" -m venv .venv
    else
      echo "python3 -m venv failed: install python3-venv" >&2
      exit 1
    fi
  fi
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".[test]"
  touch "$stamp"
fi
