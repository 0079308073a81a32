#!/usr/bin/env bash
# Install everything the tests need and run them all: bash scripts/test.sh
set -uo pipefail
cd "$(dirname "$0")/.."
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || need+=(fonts-noto-cjk)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null || exit 1
  else
    echo "missing Debian packages: ${need[*]} (install them as root)" >&2
    exit 1
  fi
fi
python -m pip install -q -r requirements-dev.txt || exit 1
python -m pip install -q --no-deps -e . || exit 1
# The layering contract in pyproject.toml ([tool.importlinter]): no upward import, no cycle.
lint-imports --no-cache || { echo "import layering broken (lint-imports)" >&2; exit 1; }
# Undefined names and syntax errors (pyflakes F, E9): a release tool that only runs by hand once
# crashed on a name lost in a refactor.
ruff check --no-cache --select F,E9 --output-format concise kneeai views ui tests app.py \
    || { echo "undefined or unused names (ruff F)" >&2; exit 1; }
# A real OpenID provider on loopback for the sign-in tests (tests/e2e/test_browser_signin.py).
source scripts/services/oidc.sh && oidc_start || exit 1
trap oidc_stop EXIT
# A real PACS on loopback for the PACS tests (tests/pacs, tests/e2e/test_browser_pacs.py): Debian's
# Orthanc + DICOMweb plugin (apt-get installs orthanc, orthanc-dicomweb and dicom3tools when missing).
export KNEEAI_TEST_SH=1
source scripts/services/orthanc.sh && orthanc_start || exit 1
trap 'oidc_stop; orthanc_stop' EXIT
# A real PostgreSQL on loopback for the registry's tests (tests/unit/test_store_postgres.py): Debian's
# postgresql (apt-get installs it when missing), a throw-away cluster, KNEEAI_TEST_POSTGRES_URL exported.
source scripts/services/postgres.sh && postgres_start || exit 1
trap 'oidc_stop; orthanc_stop; postgres_stop' EXIT
python -m pytest "$@"
code=$?
# pytest exits 5 when it collected no tests: that is a failure here, never a pass.
if [ "$code" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$code"
