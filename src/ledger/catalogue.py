"""The machinery of the event catalogue (the entries are in `ledger.events`): what an entry is, how
the aggregates record through it and how it is documented."""

from __future__ import annotations

import inspect
import typing
from typing import Any, Callable, ClassVar, Iterator, TypeVar

from eventsourcing.domain import event as _event

# Attributes of an entry that are the catalogue's, not the payload's.
_RESERVED = frozenset({"aggregate", "event_name", "topic", "fields", "defaults"})


class EventType:
    """An entry of the catalogue (never instantiated: views read an event's data as a dict)."""

    aggregate: ClassVar[str]  # "Booking"
    event_name: ClassVar[str]  # "PlaceBooked"
    topic: ClassVar[str]  # "Booking.PlaceBooked": how the log names it (after the module)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        aggregate, _, name = cls.__qualname__.rpartition(".")
        if not aggregate or "." in aggregate:
            raise TypeError(f"{cls.__qualname__}: declare an event type inside its aggregate's class")
        clash = _RESERVED & set(cls.__dict__.get("__annotations__", {}))
        if clash:
            raise TypeError(f"{cls.__qualname__}: payload fields may not be called {sorted(clash)}")
        if cls.__qualname__ in CATALOGUE:
            raise TypeError(f"{cls.__qualname__} is declared twice")
        cls.aggregate, cls.event_name, cls.topic = aggregate, name, cls.__qualname__
        CATALOGUE[cls.topic] = cls

    @classmethod
    def fields(cls) -> dict[str, Any]:
        """The payload: field name -> type, in declaration order."""
        hints = typing.get_type_hints(cls)  # resolved in the entry's module
        return {name: hints[name] for name in cls.__dict__.get("__annotations__", {})}

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """The fields events recorded before them lack, and the value that stands for them."""
        return {name: cls.__dict__[name] for name in cls.fields() if name in cls.__dict__}


CATALOGUE: dict[str, type[EventType]] = {}  # topic -> entry, in declaration order


def entries() -> Iterator[type[EventType]]:
    return iter(CATALOGUE.values())


# -- the write side's use ------------------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])


def recorded_as(entry: type[EventType]) -> Callable[[F], F]:
    """eventsourcing's `@event` under the catalogue's name, for an aggregate's method whose
    parameters are the entry's payload (an aggregate's `__init__` also takes its `id`): a method
    of another aggregate, a parameter missing or extra, another type or default fail here, when
    the aggregate is defined."""

    def decorate(method: F) -> F:
        owner = method.__qualname__.split(".")[-2] if "." in method.__qualname__ else None
        if owner != entry.aggregate:
            raise TypeError(f"{method.__qualname__} records {entry.topic}, an event of another aggregate")
        _check_payload(entry, method)
        return _event(entry.event_name)(method)

    return decorate


def _check_payload(entry: type[EventType], method: Callable[..., Any]) -> None:
    hints = typing.get_type_hints(method)
    params = [p for p in inspect.signature(method).parameters.values()
              if p.name != "self" and not (method.__name__ == "__init__" and p.name == "id")]
    declared, defaults = entry.fields(), entry.defaults()
    given = {p.name: hints.get(p.name) for p in params}
    problems = []
    for name in declared.keys() - given.keys():
        problems.append(f"{name} is not a parameter")
    for name in given.keys() - declared.keys():
        problems.append(f"parameter {name} is not in the payload")
    for p in params:
        if p.name not in declared:
            continue
        if given[p.name] != declared[p.name]:
            problems.append(f"{p.name} is {given[p.name]}, the catalogue says {declared[p.name]}")
        has_default = p.default is not inspect.Parameter.empty
        if has_default != (p.name in defaults) or (has_default and p.default != defaults[p.name]):
            problems.append(f"{p.name}'s default differs from the catalogue's")
    if problems:
        raise TypeError(f"{method.__qualname__} does not record the payload of {entry.topic}: "
                        + "; ".join(sorted(problems)))


# -- documentation -------------------------------------------------------------------------------


def _type_text(t: Any) -> str:
    text = t.__name__ if isinstance(t, type) and not typing.get_args(t) else str(t)
    return text.replace("typing.", "").replace("datetime.", "").replace("ledger.events.", "")


def markdown() -> str:
    """The catalogue as a Markdown table (docs/ledger.md holds it; a test keeps them equal)."""
    lines = ["| event | payload (besides `meta`) | what it records |", "|---|---|---|"]
    for entry in entries():
        defaults = entry.defaults()
        fields = []
        for name, t in entry.fields().items():
            if name == "meta":
                continue
            text = f"{name}: {_type_text(t)}" + (f" = {defaults[name]!r}" if name in defaults else "")
            fields.append(f"`{text}`".replace("|", "\\|"))
        doc = (entry.__doc__ or "").strip().replace("|", "\\|")
        lines.append(f"| `{entry.topic}` | {', '.join(fields) or '—'} | {doc} |")
    return "\n".join(lines) + "\n"
