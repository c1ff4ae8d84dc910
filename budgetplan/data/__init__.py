"""Label tables: the N x C partial-label matrix, its loaders, splits and harmonisation."""

from budgetplan.data.chexpert import CHEXPERT_CLASSES, load_chexpert
from budgetplan.data.csv_labels import load_label_csv, save_label_csv
from budgetplan.data.harmonise import (
    NIH_CHEXPERT_NAME_MAP,
    annotated_share,
    harmonise,
    shared_classes,
    stack_tables,
)
from budgetplan.data.label_table import SPLITS, LabelTable
from budgetplan.data.nih import NIH_CLASSES, load_nih
from budgetplan.data.splits import patient_split

__all__ = [
    "CHEXPERT_CLASSES",
    "NIH_CHEXPERT_NAME_MAP",
    "NIH_CLASSES",
    "SPLITS",
    "LabelTable",
    "annotated_share",
    "harmonise",
    "load_chexpert",
    "load_label_csv",
    "load_nih",
    "patient_split",
    "save_label_csv",
    "shared_classes",
    "stack_tables",
]
