"""What a simulation worker needs before its first job, imported once for every worker.

Where the platform has a fork server (Linux, macOS), :class:`~budgetplan.planner.executor.
ProcessExecutor` starts one that imports this module, and forks each worker from it: the
workers begin with torch, the trainer and the compiled engine's module already loaded (~2.5 s
of imports a worker, paid once, in the background while the driver finishes its set-up, instead
of by every worker at its first job; bench/README.md, "recommend.py"). Importing it runs no
training and starts no threads.
"""

from __future__ import annotations

import budgetplan.methods.fused
import budgetplan.methods.metrics
import budgetplan.methods.trainer
import budgetplan.planner.job_transport
import budgetplan.planner.runner  # noqa: F401
