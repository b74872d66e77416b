"""A driver run inside the test cluster's network namespace: ``python -m ... SPEC OUT``.

SPEC is JSON (``op`` and its arguments); the answer is written as JSON to OUT. Errors raised
by the engine are answered as ``{"error": {"type", "module", "message", "mro"}}`` so the
test can assert on the class and the message the caller saw.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "error": {
            "type": type(exc).__name__,
            "module": type(exc).__module__,
            "message": str(exc),
            "mro": [c.__name__ for c in type(exc).__mro__],
            "cause": type(exc.__cause__).__name__ if exc.__cause__ else None,
        }
    }


def _fn(name: str) -> Any:
    module, _, attr = name.partition(":")
    return getattr(importlib.import_module(module), attr)


def _one(engine: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """Run one op on the connected engine; its answer (or the error it raised)."""
    import ray

    from datacentric.engine.base import TaskResources

    op = spec["op"]
    if op == "nodes":
        alive = [n for n in ray.nodes() if n["Alive"]]
        return {
            "alive": len(alive),
            "cpus": ray.cluster_resources().get("CPU", 0),
            "ips": sorted({n["NodeManagerAddress"] for n in alive}),
            "node_ids": sorted(n["NodeID"] for n in alive),
            "head": [n["NodeID"] for n in alive if "node:__internal_head__" in n["Resources"]],
        }
    try:
        if op == "map":
            res = spec.get("resources")
            return {
                "results": engine.map(
                    _fn(spec["fn"]),
                    spec["items"],
                    desc=spec.get("desc", ""),
                    progress=spec.get("progress", False),
                    resources=TaskResources(**res) if res else None,
                )
            }
        if op == "call":
            return {"results": _fn(spec["fn"])(engine, **spec.get("kwargs", {}))}
    except Exception as exc:
        return _error(exc)
    raise SystemExit(f"unknown op {op!r}")


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Connect (or start a local Ray), run the op -- or every op of a ``batch`` -- and close."""
    from datacentric.engine.ray import RayEngine

    address = spec.get("address") if spec.get("connect", True) else None
    try:
        engine = RayEngine(address=address, workers=spec.get("workers"))
    except Exception as exc:
        return _error(exc)
    with engine:
        answer: dict[str, Any] = {"workers": engine.workers}
        if spec["op"] == "batch":
            answer["batch"] = {name: _one(engine, sub) for name, sub in spec["specs"].items()}
        else:
            answer |= _one(engine, spec)
    import ray

    answer["initialized_after_close"] = ray.is_initialized()
    return answer


def main() -> None:
    spec = json.loads(sys.argv[1])
    answer = run(spec)
    with open(sys.argv[2], "w") as out:
        json.dump(answer, out)


if __name__ == "__main__":
    main()
