"""budgetplan: which labels to annotate so that a rare imaging target gets as good as it can.

Relations from image embeddings estimate which classes help; training the partial-label methods
of the seed papers on simulated label assemblies verifies it; the planner turns measured gains
into a budgeted annotation plan (see DESIGN.md and README.md).
"""

__version__ = "0.1.0"
