"""Data page: choose the store; class prevalence per source and split; missing labels."""

from __future__ import annotations

import streamlit as st
import ui

from budgetplan import app_support as sup
from budgetplan.dataset import prune_datasets

CHOICES = ("Default store", "A built store directory", "Upload labels + embeddings")

st.sidebar.markdown("**Store**")
choice = st.sidebar.radio("Which data", CHOICES, key="store_choice", label_visibility="collapsed")
if choice == CHOICES[0]:
    default = sup.default_store()
    st.sidebar.caption(default.label)
    if ui.store_spec() != default.spec and st.sidebar.button("Use the default"):
        st.session_state[ui.STORE_KEY] = default.spec
elif choice == CHOICES[1]:
    path = st.sidebar.text_input("Dataset directory (made by `budgetplan ingest` or `embed`)")
    if st.sidebar.button("Open", disabled=not path.strip()):
        try:
            sup.open_store(sup.parse_store(path.strip()))
        except ui.ERRORS as exc:
            ui.fail(exc, "Cannot open that store")
        else:
            st.session_state[ui.STORE_KEY] = path.strip()
else:
    st.sidebar.caption(
        "A label CSV (id column, one 1/0/blank column per class, optional source, patient, "
        "split) and an (N, d) .npy of embeddings whose rows follow the CSV rows (or an ids file)."
    )
    labels_file = st.sidebar.file_uploader("Labels CSV", type=["csv", "gz"], key="up_labels")
    vectors_file = st.sidebar.file_uploader("Embeddings .npy", type=["npy"], key="up_vectors")
    ids_file = st.sidebar.file_uploader("Ids (optional, one per line)", type=["txt"], key="up_ids")
    if st.sidebar.button("Ingest", disabled=labels_file is None or vectors_file is None):
        try:
            with ui.progress_bar("ingesting the upload") as progress:
                ds_new = sup.ingest_upload(
                    labels_file.getvalue(),
                    labels_file.name,
                    vectors_file.getvalue(),
                    vectors_file.name,
                    ids_file.getvalue() if ids_file is not None else None,
                    ids_file.name if ids_file is not None else "ids.txt",
                    progress=progress,
                )
        except ui.ERRORS as exc:
            ui.fail(exc, "Cannot ingest the upload")
        else:
            prune_datasets(sup.uploads_root(), ui.UPLOADS_KEPT, protect=[ds_new.root])
            st.session_state[ui.STORE_KEY] = str(ds_new.root)
            st.sidebar.success(f"Ingested {len(ds_new)} images.")

ds = ui.dataset()
ui.header("Data", ds)

labels = ds.labels
c1, c2, c3, c4 = st.columns(4)
c1.metric("Images", f"{labels.n_images:,}")
c2.metric("Classes", labels.n_classes)
c3.metric("Sources", len(set(labels.source.tolist())))
c4.metric("Embedding dim", ds.embeddings.dim)


@st.cache_data(show_spinner=False, max_entries=8)
def _tables(checksum: str, _ds) -> tuple:
    return sup.prevalence_frame(_ds.labels), sup.missing_frame(_ds.labels)


prevalence, missing = _tables(ds.checksum, ds)
st.subheader("Class prevalence per source and split")
ui.chart(sup.prevalence_chart(prevalence, simulated=ds.simulated))
with st.expander("Counts behind the chart"):
    st.dataframe(prevalence, hide_index=True)

st.subheader("Which labels are missing where")
st.caption("Share of images without the label, per source and class (100% = never annotated).")
ui.chart(sup.missing_chart(missing, labels.classes))
