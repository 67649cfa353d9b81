#!/usr/bin/env bash
# Countersign's runs beside LangGraph 1.2's interrupt and resume, on this machine, in one go:
# N runs x K steps, every step held for a human and then approved (resumed).
#
#   bench/compare.sh [RUNS] [STEPS]      (default 100 runs x 10 steps)
#
# Builds the release binaries, runs `countersign-gateway-bench runs` against a real
# `countersign serve`, runs bench/langgraph_interrupts.py (which installs langgraph from PyPI into
# bench/.venv the first time), and prints the ratios. The figures are in docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-100}
steps=${2:-10}
swift build -c release --product countersign >/dev/null
swift build -c release --product countersign-gateway-bench >/dev/null
countersign=$(swift build -c release --show-bin-path)/countersign
bench=$(swift build -c release --show-bin-path)/countersign-gateway-bench
inprocess=$("$bench" runs --in-process --runs "$runs" --steps "$steps" --json | tee /dev/stderr | tail -1)
http=$("$bench" runs --executable "$countersign" --runs "$runs" --steps "$steps" --json | tee /dev/stderr | tail -1)
theirs=$(python3 bench/langgraph_interrupts.py --runs "$runs" --steps "$steps" --json | tee /dev/stderr | tail -1)
python3 - "$inprocess" "$http" "$theirs" <<'PY'
import json, sys
theirs = json.loads(sys.argv[3])
for name, text in (("in one process", sys.argv[1]), ("through the HTTP API", sys.argv[2])):
    ours = json.loads(text)
    print(f"Countersign {name} against LangGraph, same machine, same run:")
    print(f"  decisions/s: {ours['decisions_per_second'] / theirs['decisions_per_second']:.1f}x (goal: at least 20x)")
    print(f"  CPU per decision: {theirs['cpu_ms_per_decision'] / ours['cpu_ms_per_decision']:.1f}x less (goal: 25x)")
    print(f"  storage per decision: {ours['storage_kb_per_decision'] / theirs['storage_kb_per_decision']:.2f} of LangGraph's (goal: at most 0.1)")
    print(f"  resume p50: {ours['resume_p50_ms']:.2f} ms against {theirs['resume_p50_ms']:.2f} ms; "
          f"p99: {ours['resume_p99_ms']:.2f} ms against {theirs['resume_p99_ms']:.2f} ms")
PY
