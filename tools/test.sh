#!/usr/bin/env bash
# The test command: set up a virtual environment and run every check of the project.
#   bash tools/test.sh            # everything (what CI runs)
#   bash tools/test.sh --fast     # nbdev_test and the checks that take seconds: the tests not marked `slow`
#   bash tools/test.sh -k docs    # extra arguments go to pytest (with --fast too)
# VENV picks the environment (default: .venv in the repository); it is created when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
args=()
for a in "$@"; do
    if [ "$a" = --fast ]; then args+=(-m 'not slow'); else args+=("$a"); fi
done
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q -e ".[dev]"
export PATH="$(cd "$VENV/bin" && pwd):$PATH"
exec "$VENV/bin/python" -m pytest tests -ra ${args[@]+"${args[@]}"}
