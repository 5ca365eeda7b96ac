"""Compile cost of a lowered XLA program: CPU seconds and kernels (XLA's CPU compile time is
~10-15 ms of LLVM per kernel, so the kernel count is the lever)."""

import re
import time

_NOT_KERNELS = {"parameter", "get-tuple-element", "tuple", "constant", "bitcast", "while"}


def compile_cost(lowered):
    """``(compiled, CPU seconds of lowered.compile() in this process, kernel_count)``."""
    t0 = time.process_time()
    compiled = lowered.compile()
    seconds = time.process_time() - t0
    return compiled, seconds, kernel_count(compiled.as_text())


def kernel_count(hlo: str) -> int:
    """Kernels of an optimized HLO module (``compiled.as_text()``): the instructions of its entry
    computation and of its loops' bodies and conditions, less parameters, tuples, constants,
    bitcasts and the loops themselves (each of the rest is a compiled fusion or copy)."""
    bodies, entry, current = {}, None, None
    for line in hlo.splitlines():
        if line and not line.startswith(" ") and line.rstrip().endswith("{"):
            current = line.split()[1] if line.startswith("ENTRY") else line.split()[0]
            entry = current if line.startswith("ENTRY") else entry
            bodies[current] = []
        elif current is not None and line.startswith("  "):
            bodies[current].append(line)
    todo, seen, count = [entry], set(), 0
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in bodies[name]:
            todo += re.findall(r"(?:body|condition)=(%[\w.-]+)", line)
            op = re.search(r"= (?:\([^=]*?\)|\S+) ([a-z][\w-]*)\(", line)
            count += bool(op) and op.group(1) not in _NOT_KERNELS
    return count
