#!/usr/bin/env bash
# The test OpenID Connect provider (scripts/services/oidc/provider.js) on loopback, for the sign-in tests.
#
#   source scripts/services/oidc.sh && oidc_start   # npm ci, start it, export KNEEAI_TEST_OIDC_ISSUER
#   oidc_stop                                       # stop the one oidc_start started
#   bash scripts/services/oidc.sh install           # only npm ci (set-up)
#   bash scripts/services/oidc.sh run               # in the foreground, to sign in by hand
#
# npm ci runs here, at set-up, from the committed package-lock.json; nothing is fetched at run time.
OIDC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/oidc" && pwd)"

oidc_install() {
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "oidc: Node.js 20+ and npm are needed for the sign-in tests (Debian: nodejs, npm)" >&2
    return 1
  fi
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  if [ "$major" -lt 20 ]; then
    echo "oidc: Node.js $(node --version) is too old; oidc-provider 9 needs 20 or later" >&2
    return 1
  fi
  (cd "$OIDC_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || {
    echo "oidc: npm ci failed in $OIDC_DIR" >&2
    return 1
  }
}

oidc_start() {
  oidc_install || return 1
  local ready log i
  ready="$(mktemp "${TMPDIR:-/tmp}/kneeai-oidc-ready.XXXXXX")"
  log="${OIDC_LOG:-${TMPDIR:-/tmp}/kneeai-oidc-$$.log}"
  : >"$ready"
  # --exit-with: the provider also stops by itself once this shell is gone (another EXIT trap may replace ours).
  node "$OIDC_DIR/provider.js" --ready-file "$ready" --exit-with "$$" >"$log" 2>&1 &
  OIDC_PID=$!
  for i in $(seq 1 150); do
    [ -s "$ready" ] && break
    if ! kill -0 "$OIDC_PID" 2>/dev/null; then
      echo "oidc: the provider exited; its log ($log):" >&2
      cat "$log" >&2
      return 1
    fi
    sleep 0.2
  done
  if [ ! -s "$ready" ]; then
    echo "oidc: the provider did not start within 30 s; its log ($log):" >&2
    cat "$log" >&2
    oidc_stop
    return 1
  fi
  KNEEAI_TEST_OIDC_ISSUER="$(head -n 1 "$ready")"
  export KNEEAI_TEST_OIDC_ISSUER
  rm -f "$ready"
  echo "oidc: test provider at $KNEEAI_TEST_OIDC_ISSUER (pid $OIDC_PID, log $log)"
}

oidc_stop() {
  if [ -n "${OIDC_PID:-}" ]; then
    kill "$OIDC_PID" 2>/dev/null
    wait "$OIDC_PID" 2>/dev/null
    OIDC_PID=""
  fi
  return 0
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-}" in
    install) oidc_install ;;
    run) oidc_install && exec node "$OIDC_DIR/provider.js" "${@:2}" ;;
    *) echo "usage: bash scripts/services/oidc.sh install|run [--port N]; or source it and call oidc_start" >&2; exit 2 ;;
  esac
fi
