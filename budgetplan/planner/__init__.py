"""The planner: simulate label assemblies, measure gains, recommend a budgeted annotation plan.

Entry points: :func:`budgetplan.planner.recommend.recommend` (the whole pipeline, what
``budgetplan recommend`` runs) and :func:`budgetplan.planner.recommend.setup` +
:func:`~budgetplan.planner.recommend.simulate` (``budgetplan simulate``). Modules, one idea each:
``assembly`` (which labels a simulated study has), ``problem`` (the shared, reduced arrays),
``runner`` / ``cache`` / ``executor`` (batched, cached, resumable training runs), ``allocation``
(successive halving over seeds), ``screen`` (relation scores), ``predictor`` (gain ~ relations),
``selection`` (budget sizing, greedy selection, random control), ``costs``, ``plan``, ``images``,
``export`` and ``report`` (terminal output). Submodules are imported lazily (torch is heavy).
"""
