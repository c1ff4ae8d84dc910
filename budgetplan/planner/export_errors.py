"""The error and warning of the export modules (in one place, so that each format can raise
them)."""

from __future__ import annotations

from budgetplan.errors import BudgetplanError


class ExportError(BudgetplanError, ValueError):
    """An export that cannot be made as asked (unknown format, missing image sizes, ...)."""


class ExportWarning(UserWarning):
    """An export that was written but will need a fix to work (the CLI prints it as one line)."""
