"""``recommend``: which labels to annotate for a rare target within a budget, in one call.

The front door of the planner (``budgetplan.recommend``): it resolves the data (the config's
recipe data, an open :class:`~budgetplan.dataset.Dataset`, or arrays in memory) and runs a
:class:`~budgetplan.planner.study.StudyPlanner` (see that module for the steps).
"""

from __future__ import annotations

import numpy as np

from budgetplan.config import RecommendConfig
from budgetplan.data.label_table import LabelTable
from budgetplan.dataset import Dataset
from budgetplan.errors import BudgetplanError
from budgetplan.planner.cache import RunCache
from budgetplan.planner.runner import JobFn, execute_job
from budgetplan.planner.sources import load_data_to_plan
from budgetplan.planner.study import Recommendation, StudyPlanner
from budgetplan.progress import ProgressFn


def recommend(
    data: RecommendConfig | Dataset | None = None,
    config: RecommendConfig | None = None,
    *,
    labels: LabelTable | None = None,
    vectors: np.ndarray | None = None,
    cache: RunCache | None = None,
    job_fn: JobFn = execute_job,
    progress: ProgressFn | None = None,
) -> Recommendation:
    """Measure which labels help the target and make the budgeted plan.

    Parameters
    ----------
    data : RecommendConfig, Dataset or None
        What to plan on: a config alone (its recipe's data: the embedded demo, a store, the
        digits), a ``Dataset`` (opened, or ``Dataset.from_arrays``), or None with ``labels``
        and ``vectors``.
    config : RecommendConfig, optional
        Target, budget, method and simulation settings (default ``RecommendConfig()``; the
        target defaults to the data's default target when the config names none).
    labels, vectors : LabelTable and (N, d) array, optional
        Plan on arrays in memory: rows of ``vectors`` are the rows of ``labels``.
    cache : RunCache, optional
        Where finished runs are kept (default: the user cache; ``RunCache(enabled=False)``).
    job_fn : callable, optional
        The batched training call (tests pass a fast fake).
    progress : callable, optional
        ``progress(done, total, message)``.

    Returns
    -------
    Recommendation
        ``.plan`` (an :class:`~budgetplan.planner.plan.AnnotationPlan`), ``.table`` (the ranked
        candidates), ``.predictor``, run counts and notes.

    Examples
    --------
    Plan on scikit-learn's real digit images (the ``digits`` recipe, quick settings):

    >>> import budgetplan
    >>> cfg = budgetplan.quick_config(budgetplan.load_recipe("digits"))
    >>> rec = budgetplan.recommend(cfg, cache=budgetplan.RunCache(enabled=False))
    >>> rec.plan.target
    '8'
    >>> rec.plan.total_cost <= rec.plan.budget
    True
    """
    if isinstance(data, RecommendConfig):
        if config is not None:
            raise BudgetplanError("recommend(): give the config once (data or config)")
        data, config = None, data
    config = config if config is not None else RecommendConfig()
    if data is None and (labels is not None or vectors is not None):
        if labels is None or vectors is None:
            raise BudgetplanError("recommend(): arrays need both labels= and vectors=")
        data = Dataset.from_arrays(labels, vectors)
    elif data is None:
        data = load_data_to_plan(config, progress)
    if data.default_target and config.target == RecommendConfig.target:
        if config.target not in data.labels.classes:
            config = config.with_overrides(target=data.default_target)
    with StudyPlanner(config, data, cache=cache, job_fn=job_fn, progress=progress) as planner:
        return planner.recommend()
