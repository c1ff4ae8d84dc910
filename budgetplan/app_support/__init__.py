"""What the Streamlit app shows, as pure functions over library objects (tested without Streamlit).

The app (``app/``) is a thin shell: every table, chart and download it shows is built here from
budgetplan's own results (label tables, relation matrices, simulation results, plans), so the
numbers on screen are the library's numbers. Nothing here imports Streamlit. The app imports
this package as ``sup`` and calls the names below; each lives in the module of its concern:

- :mod:`~budgetplan.app_support.stores`: which dataset (``"demo"``, ``"demo:N"``, a directory;
  ``$BUDGETPLAN_APP_STORE``) and datasets made from uploads.
- :mod:`~budgetplan.app_support.settings`: ``$BUDGETPLAN_APP_QUICK``, the ``RecommendConfig`` of a
  page's choices, costs and the budget slider.
- :mod:`~budgetplan.app_support.charts`: the Data, Relations and Simulate pages' frames and charts.
- :mod:`~budgetplan.app_support.plan`: the Simulate and Plan pages' view of a recommendation.
- :mod:`~budgetplan.app_support.exports`: every export format as a download.
"""

from __future__ import annotations

from budgetplan.app_support.charts import (
    gain_chart,
    missing_chart,
    missing_frame,
    neighbourhood_graph,
    predictor_chart,
    prevalence_chart,
    prevalence_frame,
    rank_correlation,
)
from budgetplan.app_support.exports import MIME, Download, export_download, export_downloads
from budgetplan.app_support.plan import (
    candidate_frame,
    describe,
    plan_actions_frame,
    plan_vs_random_chart,
    plan_vs_random_frame,
    points,
    predictor_relations,
)
from budgetplan.app_support.settings import (
    QUICK_ENV,
    app_config,
    budget_range,
    cost_mapping,
    cost_table,
    default_costs,
    quick_mode,
    recipe_cost_model,
)
from budgetplan.app_support.stores import (
    STORE_ENV,
    ProgressFn,
    StoreChoice,
    default_store,
    ingest_upload,
    load_uploaded_vectors,
    open_store,
    parse_store,
    prepare_store,
    uploads_root,
)

__all__ = [
    "MIME",
    "QUICK_ENV",
    "STORE_ENV",
    "Download",
    "ProgressFn",
    "StoreChoice",
    "app_config",
    "budget_range",
    "candidate_frame",
    "cost_mapping",
    "cost_table",
    "default_costs",
    "default_store",
    "describe",
    "points",
    "export_download",
    "export_downloads",
    "gain_chart",
    "ingest_upload",
    "load_uploaded_vectors",
    "missing_chart",
    "missing_frame",
    "neighbourhood_graph",
    "open_store",
    "parse_store",
    "plan_actions_frame",
    "plan_vs_random_chart",
    "plan_vs_random_frame",
    "predictor_chart",
    "predictor_relations",
    "prepare_store",
    "prevalence_chart",
    "prevalence_frame",
    "quick_mode",
    "rank_correlation",
    "recipe_cost_model",
    "uploads_root",
]
