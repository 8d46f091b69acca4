# Sourced by the scripts: create .venv on first use and keep it installed (quietly).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ ! -x .venv/bin/python ]; then
  echo "edgeloop: creating .venv (first run installs TensorFlow, tfmot, LiteRT: a few minutes)" >&2
  python3 -m venv .venv
fi
# Re-install when setup.cfg changed since the last install (or never installed).
stamp=.venv/.edgeloop-installed
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[tf,test]"
  touch "$stamp"
fi
export PATH="$root/.venv/bin:$PATH"
