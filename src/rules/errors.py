"""The one exception the rules package raises for rule problems."""


class RuleError(ValueError):
    """A rule cannot be applied: unknown rule set, no value in force on a date, bad input.

    A ValueError, so callers that validate input can treat it like any other bad value.
    """
