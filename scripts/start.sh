#!/usr/bin/env bash
# Install KneeAI and start the app: bash scripts/start.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# A CJK font for Chinese PDF exports; installed here so nothing is fetched at run time.
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then
  apt-get update -qq && apt-get install -y -qq fonts-noto-cjk >/dev/null
fi
python -m pip install -q -r requirements.txt
python -m pip install -q --no-deps -e .
exec python -m streamlit run app.py "$@"
