#!/usr/bin/env bash
# The GPU check: on a machine with a CUDA GPU, the `paper` recipe (224 px, mixed precision) on the real CIFAR-10 archive
# without ImageNet weights, for the baselines and the members-first fusions, in about 8 minutes; writes results/gpu/
# (results.json, table.md, predictions, figures, gradcam.json, bench.md). See tools/gpu_check.py for what it measures.
#   bash tools/gpu_check.sh --data path/to/cifar10-jpeg.tar.gz [--budget 450] [--out results/gpu]
# PYTHON picks the interpreter (default: python3, which must have torch with CUDA); the repository is used in place.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" tools/gpu_check.py "$@"
