"""budgetplan's Streamlit app: which labels to annotate for a rare imaging target.

Run with ``budgetplan app`` or ``streamlit run app/streamlit_app.py``. Four pages (Data,
Relations, Simulate, Plan) over the library; every number comes from budgetplan's functions.
``$BUDGETPLAN_APP_STORE`` picks the store opened first ("demo", "demo:N" or a dataset
directory) and ``$BUDGETPLAN_APP_QUICK=1`` offers tiny simulations (tests and quick looks).
Server settings (127.0.0.1, no usage statistics, upload limit) are in ``.streamlit/config.toml``
at the repository root, which ``streamlit run`` reads from there; ``budgetplan app`` passes
the same ones as flags.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from budgetplan.bug_report import debugging, describe_bug
from budgetplan.errors import BudgetplanError
from budgetplan.io import describe_error

HERE = Path(__file__).resolve().parent

st.set_page_config(page_title="budgetplan", page_icon=":material/biotech:", layout="wide")

pages = [
    st.Page(HERE / "views" / "data.py", title="Data", icon=":material/table_chart:", default=True),
    st.Page(HERE / "views" / "relations.py", title="Relations", icon=":material/hub:"),
    st.Page(HERE / "views" / "simulate.py", title="Simulate", icon=":material/science:"),
    st.Page(HERE / "views" / "plan.py", title="Plan", icon=":material/checklist:"),
]
try:
    st.navigation(pages).run()
except (BudgetplanError, OSError) as exc:  # what a page did not catch: one line, no traceback
    st.error(f"budgetplan: {describe_error(exc)}")
except Exception as exc:  # a bug: one line too, its traceback saved for the report
    if debugging():
        raise
    st.error(f"budgetplan: internal error: {describe_bug(exc)}")
