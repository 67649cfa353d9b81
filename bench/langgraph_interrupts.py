#!/usr/bin/env python3
"""LangGraph's interrupt and resume, measured: N runs x K steps, each step held for a human and resumed.

The graph is the human-in-the-loop pattern from LangGraph's documentation, the loop Countersign's
`countersign-gateway-bench runs` drives through its API: a `gate` node proposes the step and
calls `interrupt()` (the run pauses, checkpointed), the driver resumes it with
`Command(resume={"approved": True})`, an `execute` node writes the step's file (the same effect as
Countersign's `files.write`), and the graph loops to the next step. The checkpointer is
`SqliteSaver` (langgraph-checkpoint-sqlite) on a file, so every pause survives a restart.

Prints decisions per second, CPU per decision, p50/p99 resume latency (from `invoke(Command(resume))`
to the next interrupt) and storage per decision, and the same as one JSON line (`--json`).

Without langgraph importable, it makes a virtual environment in bench/.venv, installs
langgraph 1.2 and langgraph-checkpoint-sqlite from PyPI there, and runs itself again in it.
"""

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import venv
from concurrent.futures import ThreadPoolExecutor

REQUIREMENTS = ["langgraph>=1.2,<1.3", "langgraph-checkpoint-sqlite>=3,<4"]


def ensure_langgraph() -> None:
    try:
        import langgraph.checkpoint.sqlite  # noqa: F401
        import langgraph.graph  # noqa: F401
        return
    except ImportError:
        pass
    environment = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".venv")
    python = os.path.join(environment, "bin", "python")
    if os.environ.get("COUNTERSIGN_BENCH_VENV") == "1":
        sys.exit("langgraph is still not importable in bench/.venv")
    if not os.path.exists(python):
        venv.create(environment, with_pip=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *REQUIREMENTS],
                   check=True)
    os.environ["COUNTERSIGN_BENCH_VENV"] = "1"
    os.execv(python, [python, os.path.abspath(__file__), *sys.argv[1:]])


def build_graph(checkpointer):
    from typing import TypedDict

    from langgraph.graph import END, START, StateGraph
    from langgraph.types import interrupt

    class State(TypedDict):
        run: int
        step: int
        steps: int
        workspace: str
        done: list

    def gate(state: State) -> dict:
        decision = interrupt({
            "operation": "files.write",
            "arguments": {"path": f"r{state['run']}/s{state['step']}.txt", "content": "x"},
            "rationale": f"step {state['step']}",
        })
        if not decision.get("approved"):
            return {"step": state["steps"]}
        return {}

    def execute(state: State) -> dict:
        directory = os.path.join(state["workspace"], f"r{state['run']}")
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, f"s{state['step']}.txt")
        with open(path, "x") as file:
            file.write("x")
        return {"step": state["step"] + 1, "done": state["done"] + [path]}

    def next_step(state: State) -> str:
        return "gate" if state["step"] < state["steps"] else END

    builder = StateGraph(State)
    builder.add_node("gate", gate)
    builder.add_node("execute", execute)
    builder.add_edge(START, "gate")
    builder.add_edge("gate", "execute")
    builder.add_conditional_edges("execute", next_step, ["gate", END])
    return builder.compile(checkpointer=checkpointer)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1,
                        help="threads driving the runs (the checkpointer's connection is shared, as LangGraph does)")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    options = parser.parse_args()
    ensure_langgraph()

    from importlib.metadata import version

    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.types import Command

    directory = tempfile.mkdtemp(prefix="langgraph-bench-")
    workspace = os.path.join(directory, "workspace")
    os.makedirs(workspace)
    database = os.path.join(directory, "checkpoints.sqlite")
    connection = sqlite3.connect(database, check_same_thread=False)
    checkpointer = SqliteSaver(connection)
    checkpointer.setup()
    journal = connection.execute("PRAGMA journal_mode").fetchone()[0]
    synchronous = connection.execute("PRAGMA synchronous").fetchone()[0]
    graph = build_graph(checkpointer)
    empty = sum(os.path.getsize(p) for p in (database, database + "-wal") if os.path.exists(p))

    def config(run: int) -> dict:
        return {"configurable": {"thread_id": f"run-{run}"}}

    latencies: list[float] = []
    lock = threading.Lock()

    def drive(run: int) -> None:
        state = graph.invoke({"run": run, "step": 0, "steps": options.steps, "workspace": workspace, "done": []},
                             config(run))
        assert "__interrupt__" in state, state
        for step in range(options.steps):
            start = time.perf_counter()
            state = graph.invoke(Command(resume={"approved": True}), config(run))
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
            if step + 1 < options.steps:
                assert "__interrupt__" in state, state
            else:
                assert "__interrupt__" not in state and len(state["done"]) == options.steps, state

    cpu_start = cpu_seconds()
    started = time.perf_counter()
    if options.threads == 1:
        for run in range(options.runs):
            drive(run)
    else:
        with ThreadPoolExecutor(max_workers=options.threads) as pool:
            list(pool.map(drive, range(options.runs)))
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds() - cpu_start
    connection.close()
    size = sum(os.path.getsize(p) for p in (database, database + "-wal") if os.path.exists(p)) - empty
    decisions = options.runs * options.steps
    latencies.sort()
    figures = {
        "langgraph": version("langgraph"),
        "checkpointer": f"langgraph-checkpoint-sqlite {version('langgraph-checkpoint-sqlite')}",
        "journal_mode": journal,
        "synchronous": synchronous,
        "runs": options.runs,
        "steps": options.steps,
        "threads": options.threads,
        "decisions_per_second": decisions / elapsed,
        "cpu_ms_per_decision": cpu / decisions * 1000,
        "resume_p50_ms": latencies[len(latencies) // 2] * 1000,
        "resume_p99_ms": latencies[min(len(latencies) - 1, len(latencies) * 99 // 100)] * 1000,
        "storage_kb_per_decision": size / decisions / 1024,
    }
    print(f"LangGraph {figures['langgraph']} with {figures['checkpointer']} "
          f"(journal_mode={journal}, synchronous={synchronous}): {options.runs} runs x {options.steps} steps, "
          f"every step interrupted and resumed, {options.threads} thread(s)")
    print(f"  {figures['decisions_per_second']:.0f} decisions/s ({decisions} in {elapsed:.2f} s)")
    print(f"  CPU per decision: {figures['cpu_ms_per_decision']:.3f} ms")
    print(f"  resume latency (invoke(Command(resume)) -> the next interrupt): "
          f"p50 {figures['resume_p50_ms']:.3f} ms, p99 {figures['resume_p99_ms']:.3f} ms")
    print(f"  storage per decision: {figures['storage_kb_per_decision']:.1f} KB")
    if options.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
