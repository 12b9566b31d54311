#!/usr/bin/env bash
# Create or reuse the project's virtualenv (.venv) and install what is missing.
# Sourced by scripts/main.sh and scripts/test.sh; safe to run again (a no-op when up to date).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BCVLR_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if ! "$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
  echo "bcvlr-bench needs Python 3.11 (found: $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

# MuJoCo renders offscreen through EGL; on a machine without a GPU driver that is Mesa.
if ! ldconfig -p 2>/dev/null | grep -q 'libEGL_mesa\|libEGL_nvidia'; then
  pkgs="libegl1 libgl1 libgl1-mesa-dri libegl-mesa0 libglx-mesa0"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo ">> installing Mesa EGL for headless rendering: $pkgs"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
  else
    echo "warning: no EGL library found and cannot apt-get install ($pkgs); MuJoCo rendering may fail" >&2
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo ">> creating virtualenv $VENV"
  "$PY" -m venv "$VENV"
fi
# Reinstall only when the dependency list changed.
stamp="$VENV/.bcvlr-deps-$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo ">> installing bcvlr-bench and its pinned dependencies into $VENV (a few minutes the first time)"
  "$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  "$VENV/bin/python" -m pip install -q -e "$ROOT[dev]" 2>&1 | grep -v '^WARNING: Location' || true
  "$VENV/bin/python" -c 'import bcvlr, torch, procgen, dm_control, metaworld, snakemake, rliable' \
    || { echo "installation failed" >&2; exit 1; }
  rm -f "$VENV"/.bcvlr-deps-* && touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
export MUJOCO_GL="${MUJOCO_GL:-egl}"
