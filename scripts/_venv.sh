# Sourced by the scripts: create .venv on first use and keep it installed (quietly).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ ! -x .venv/bin/python ]; then
  echo "edgeloop: creating .venv (first run installs TensorFlow, tfmot, LiteRT, Ray: a few minutes)" >&2
  python3 -m venv .venv
fi
# Re-install when setup.cfg changed since the last install (or never installed).
stamp=.venv/.edgeloop-installed
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ]; then
  # pip's output goes to a log, shown only when the install fails.
  if ! .venv/bin/python -m pip install --disable-pip-version-check -e ".[tf,ray,test]" > .venv/install.log 2>&1; then
    tail -n 40 .venv/install.log >&2
    echo "edgeloop: installing into .venv failed (full log: .venv/install.log)" >&2
    exit 1
  fi
  touch "$stamp"
fi
export PATH="$root/.venv/bin:$PATH"
