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
- :mod:`~budgetplan.app_support.worklist`: the worklist view, thumbnails, the 2-D map chart.
- :mod:`~budgetplan.app_support.curve`: the budget curve chart (``planner.budget_curve``).
- :mod:`~budgetplan.app_support.estimate`: run counts and time estimates before a long run.
- :mod:`~budgetplan.app_support.words`: plain relation names, glossary, captions, the guide.
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
from budgetplan.app_support.curve import budget_curve_chart, curve_points, saturation
from budgetplan.app_support.estimate import (
    estimate_text,
    record_seconds,
    run_bounds,
    seconds_per_run,
    timing_key,
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
    budget_bounds,
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
from budgetplan.app_support.words import (
    GUIDE,
    PLAIN_NAMES,
    candidate_view,
    glossary,
    plain_name,
    predictor_caption,
    store_caption,
)
from budgetplan.app_support.worklist import map_chart, map_frame, thumbnails, worklist_view

__all__ = [
    "GUIDE",
    "MIME",
    "PLAIN_NAMES",
    "QUICK_ENV",
    "STORE_ENV",
    "Download",
    "ProgressFn",
    "StoreChoice",
    "app_config",
    "budget_bounds",
    "budget_curve_chart",
    "budget_range",
    "candidate_frame",
    "candidate_view",
    "curve_points",
    "cost_mapping",
    "cost_table",
    "default_costs",
    "default_store",
    "describe",
    "estimate_text",
    "glossary",
    "map_chart",
    "map_frame",
    "plain_name",
    "predictor_caption",
    "record_seconds",
    "run_bounds",
    "saturation",
    "seconds_per_run",
    "store_caption",
    "thumbnails",
    "timing_key",
    "worklist_view",
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
