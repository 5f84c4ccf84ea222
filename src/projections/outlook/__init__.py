"""The forecast of children in care (issue 24): what the ledger knew at a date, plus what its
own past says is still to come, per institution, cluster or district × age group × month."""

from projections.outlook.forecast import LEVELS, ForecastError, ForecastRow, Outlook, UnknownUnit, parse_births
from projections.outlook.history import History, read_history

__all__ = ["LEVELS", "ForecastError", "ForecastRow", "History", "Outlook", "UnknownUnit", "parse_births", "read_history"]
