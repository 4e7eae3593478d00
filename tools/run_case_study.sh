#!/usr/bin/env bash
# The main job: set up a virtual environment and run the case study at a size that suits this
# machine: the `paper` preset (224 px, pretrained, 6 epochs, full CIFAR-10) on a CUDA GPU, the
# `cpu` preset (see nbs/07_cli.ipynb) elsewhere. Extra arguments go to `fusion_nb_run`, e.g.
#   bash tools/run_case_study.sh --data /path/to/cifar10-folder-or-archive --no-pretrained
# PRESET overrides the choice; VENV picks the environment (default .venv); results go to
# runs/<preset> unless --out is given.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q -e .
if [ -z "${PRESET:-}" ]; then
  if "$VENV/bin/python" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then PRESET=paper; else PRESET=cpu; fi
fi
echo "fusion_nb: running the case study with preset '$PRESET'"
exec "$VENV/bin/fusion_nb_run" --preset "$PRESET" --out "runs/$PRESET" "$@"
