"""The choices the command line offers for a plan's exports (``planner.export``) and for merging
annotators' answers back (``planner.answers``). Light on purpose: the command line reads them
while it builds its parser, before pandas and the exporters are imported."""

FORMATS = ("csv", "json", "labelstudio", "cvat", "markdown")
PREFER = ("answers", "existing")  # which label wins where an answer and a label disagree
