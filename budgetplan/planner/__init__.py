"""The planner: simulate label assemblies, measure gains, recommend a budgeted annotation plan.

Entry points: :func:`budgetplan.planner.recommend.recommend` (the whole pipeline on a config,
a :class:`~budgetplan.dataset.Dataset` or arrays; what ``budgetplan recommend`` runs) and
:class:`budgetplan.planner.study.StudyPlanner` (the steps one by one; ``budgetplan simulate``
runs its ``simulate()``). Modules, one idea each: ``sources`` (the recipe's data as a Dataset),
``study`` (the planner and its steps), ``stats`` / ``blocks`` (typed results),
``assembly`` (which labels a simulated study has), ``problem`` (the shared, reduced arrays),
``runner`` / ``cache`` / ``executor`` (batched, cached, resumable training runs), ``allocation``
(successive halving over seeds), ``screen`` (relation scores), ``predictor`` (gain ~ relations),
``selection`` (budget sizing, greedy selection, random control), ``costs``, ``plan``, ``images``,
``export`` and ``report`` (terminal output). Submodules are imported lazily (torch is heavy).
"""
