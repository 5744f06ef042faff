#!/usr/bin/env bash
# Installs what the observability, deployment and OpenAPI tests need beside
# the broker: Prometheus and promtool (Debian's package), kubernetes-validate
# (PyPI, validates manifests offline) and schemathesis (PyPI, checks the
# gateway against docs/openapi.yaml) and standardwebhooks (PyPI, the reference
# library that verifies the consumer's signed deliveries), the openssl
# command that makes the mutual-TLS test's certificates, and nftables (the
# cluster tests cut one process off the network by dropping its packets).
# Skips what is already there.
set -euo pipefail

missing=()
command -v prometheus >/dev/null && command -v promtool >/dev/null || missing+=(prometheus)
command -v openssl >/dev/null || missing+=(openssl)
command -v nft >/dev/null || missing+=(nftables)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} (Debian packages)..." >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v kubernetes-validate >/dev/null; then
  echo "installing kubernetes-validate (PyPI)..." >&2
  python3 -m pip install -q --disable-pip-version-check kubernetes-validate==1.37.0 >&2 ||
    python3 -m pip install -q --disable-pip-version-check kubernetes-validate >&2
  hash -r
fi

if ! command -v schemathesis >/dev/null; then
  echo "installing schemathesis (PyPI)..." >&2
  python3 -m pip install -q --disable-pip-version-check schemathesis==4.32.5 >&2 ||
    python3 -m pip install -q --disable-pip-version-check schemathesis >&2
  hash -r
fi

if ! python3 -c "import standardwebhooks" >/dev/null 2>&1; then
  echo "installing standardwebhooks (PyPI, verifies the consumer's signed deliveries)..." >&2
  python3 -m pip install -q --disable-pip-version-check standardwebhooks==1.3.0 >&2 ||
    python3 -m pip install -q --disable-pip-version-check standardwebhooks >&2
fi
