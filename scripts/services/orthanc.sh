#!/usr/bin/env bash
# A real PACS on loopback: Debian's Orthanc with its DICOMweb plugin, configured by
# scripts/orthanc/orthanc.json (DICOMweb on, no remote access, test user kneeai / kneeai-test).
#
#   source scripts/services/orthanc.sh && orthanc_start   # start one on a free port, export KNEEAI_TEST_ORTHANC_*
#   orthanc_stop                                          # stop the one orthanc_start started (and delete its store)
#   bash scripts/services/orthanc.sh install              # only the Debian packages (as root)
#   bash scripts/services/orthanc.sh run [--port 8042]    # in the foreground, storing in ~/.kneeai/orthanc
#
# The Debian packages are orthanc, orthanc-dicomweb and dicom3tools (dciodvfy checks what KneeAI stores).
ORTHANC_CONF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../orthanc" && pwd)"
ORTHANC_PLUGIN="/usr/share/orthanc/plugins/libOrthancDicomWeb.so"

orthanc_install() {
  local need=()
  command -v Orthanc >/dev/null 2>&1 || need+=(orthanc)
  [ -e "$ORTHANC_PLUGIN" ] || need+=(orthanc-dicomweb)
  command -v dciodvfy >/dev/null 2>&1 || need+=(dicom3tools)
  [ ${#need[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "orthanc: missing Debian packages: ${need[*]} (install them as root)" >&2
    return 1
  fi
  # The package's own service stays off: policy-rc.d is honoured by invoke-rc.d in containers,
  # and our Orthanc runs with its own configuration on its own port.
  apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || {
    echo "orthanc: apt-get install ${need[*]} failed" >&2
    return 1
  }
}

# Write the committed configuration and a runtime.json (port, storage) into $1.
_orthanc_config() {
  local dir="$1" port="$2" store="$3"
  mkdir -p "$dir" "$store" || return 1
  cp "$ORTHANC_CONF_DIR/orthanc.json" "$dir/orthanc.json" || return 1
  printf '{ "HttpPort" : %s, "StorageDirectory" : "%s", "IndexDirectory" : "%s" }\n' \
    "$port" "$store" "$store" >"$dir/runtime.json"
}

# 0 when DICOMweb answers on 127.0.0.1:$1 with the test user's password (python3, not curl: not every image has curl).
_orthanc_ready() {
  python3 - "$1" <<'PY' >/dev/null 2>&1
import base64, sys, urllib.request
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/dicom-web/studies",
                             headers={"Authorization": "Basic " + base64.b64encode(b"kneeai:kneeai-test").decode()})
urllib.request.urlopen(req, timeout=2).read()
PY
}

_orthanc_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

orthanc_start() {
  orthanc_install || return 1
  local port i
  ORTHANC_HOME="$(mktemp -d "${TMPDIR:-/tmp}/kneeai-orthanc.XXXXXX")"
  port="$(_orthanc_free_port)" || return 1
  _orthanc_config "$ORTHANC_HOME/conf" "$port" "$ORTHANC_HOME/db" || return 1
  Orthanc "$ORTHANC_HOME/conf" >"$ORTHANC_HOME/orthanc.log" 2>&1 &
  ORTHANC_PID=$!
  for i in $(seq 1 150); do
    if _orthanc_ready "$port"; then
      break
    fi
    if ! kill -0 "$ORTHANC_PID" 2>/dev/null; then
      echo "orthanc: Orthanc exited; its log ($ORTHANC_HOME/orthanc.log):" >&2
      cat "$ORTHANC_HOME/orthanc.log" >&2
      return 1
    fi
    sleep 0.2
  done
  if ! _orthanc_ready "$port"; then
    echo "orthanc: DICOMweb did not answer within 30 s; its log ($ORTHANC_HOME/orthanc.log):" >&2
    cat "$ORTHANC_HOME/orthanc.log" >&2
    orthanc_stop
    return 1
  fi
  export KNEEAI_TEST_ORTHANC_URL="http://127.0.0.1:$port/dicom-web"
  export KNEEAI_TEST_ORTHANC_USER="kneeai"
  export KNEEAI_TEST_ORTHANC_PASSWORD="kneeai-test"
  echo "orthanc: test PACS at $KNEEAI_TEST_ORTHANC_URL (pid $ORTHANC_PID, log $ORTHANC_HOME/orthanc.log)"
}

orthanc_stop() {
  if [ -n "${ORTHANC_PID:-}" ]; then
    kill "$ORTHANC_PID" 2>/dev/null
    wait "$ORTHANC_PID" 2>/dev/null
    ORTHANC_PID=""
  fi
  if [ -n "${ORTHANC_HOME:-}" ] && [ -d "$ORTHANC_HOME" ]; then
    rm -rf "$ORTHANC_HOME"
    ORTHANC_HOME=""
  fi
  return 0
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-}" in
    install) orthanc_install ;;
    run)
      port=8042
      [ "${2:-}" = "--port" ] && port="${3:?--port needs a number}"
      orthanc_install || exit 1
      home="${KNEEAI_ORTHANC_HOME:-$HOME/.kneeai/orthanc}"
      _orthanc_config "$home/conf" "$port" "$home/db" || exit 1
      echo "orthanc: DICOMweb at http://127.0.0.1:$port/dicom-web (user kneeai, password kneeai-test); Ctrl-C stops it"
      exec Orthanc "$home/conf"
      ;;
    *)
      echo "usage: bash scripts/services/orthanc.sh install|run [--port N]; or source it and call orthanc_start" >&2
      exit 2
      ;;
  esac
fi
