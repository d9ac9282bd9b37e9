"""Named entries where a choice is offered (catalogues, separators, explanation types).

A :class:`Registry` keeps its entries in registration order, which is the order of preference where
one is picked by default and the order the command line and the page list them in. Everything that
offers the choice reads the registry, so registering an entry is all it takes to offer a new one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar

from lemons.errors import ConfigError, LemonsError


class Named(Protocol):
    """What a registry entry needs: a unique ``name``."""

    @property
    def name(self) -> str:
        """The entry's name in its registry."""
        ...


Entry = TypeVar("Entry", bound=Named)


class Registry(Generic[Entry]):
    """Entries by name, in registration order.

    Args:
        what: what an entry is, for messages (``"separator"``, ``"catalogue"``).
        error: the error raised for an unknown name (a :class:`~lemons.errors.LemonsError`).
    """

    def __init__(self, what: str, error: type[LemonsError] = ConfigError) -> None:
        self.what, self.error = what, error
        self._entries: dict[str, Entry] = {}

    def register(self, entry: Entry) -> Entry:
        """Add ``entry`` after the others; returns it. A name can be registered once."""
        if entry.name in self._entries:
            raise ValueError(f"a {self.what} called {entry.name!r} is already registered")
        self._entries[entry.name] = entry
        return entry

    def unregister(self, name: str) -> Entry:
        """Remove and return the entry called ``name``."""
        entry = self[name]
        del self._entries[name]
        return entry

    def __getitem__(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise self.error(f"unknown {self.what} {name!r}; use one of {', '.join(self._entries)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> tuple[str, ...]:
        """Every name, in registration order."""
        return tuple(self._entries)
