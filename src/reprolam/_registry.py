"""One registry shape for every plug-in kind (planners, executors): name -> class.

Built-ins are listed by import path (imported only when used); third-party classes register
by call (``register(name, cls)``) or by entry point. ``build(config)`` turns a recorded
``config()`` back into an instance: the class's ``from_config(config, **context)`` if it
has one, else ``cls(**settings)`` with the recorded settings.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any, TypeVar

from reprolam.errors import ConfigError

C = TypeVar("C", bound=type[Any])


class Registry:
    def __init__(
        self,
        kind: str,
        builtin: Mapping[str, str],
        *,
        hidden: Iterable[str] = (),
        choices: Iterable[str] = (),
    ) -> None:
        self.kind = kind  # "planner": the option name, and register_planner's suffix
        self.group = f"reprolam.{kind}s"  # the entry point group
        self.builtin = builtin
        self.hidden = frozenset(hidden)  # made by reprolam itself, never chosen by name
        self.choices = tuple(choices)  # names the option accepts beside the registered ones
        self._classes: dict[str, type[Any]] = {}

    def register(self, name: str, cls: C | None = None) -> Any:
        """Register ``cls`` under ``name`` (also usable as ``@register("name")``)."""

        def add(registered: C) -> C:
            if not name or not name.replace("-", "_").isidentifier():
                raise ConfigError(
                    f"{self.kind} name {name!r} must be a word such as 'my-{self.kind}'"
                )
            self._classes[name] = registered
            return registered

        return add if cls is None else add(cls)

    def names(self) -> list[str]:
        """Every name a run can use: built-in, registered and installed by entry point."""
        installed = (ep.name for ep in entry_points(group=self.group))
        return sorted({*self.builtin, *self._classes, *installed} - self.hidden)

    def get(self, name: str) -> type[Any]:
        if name in self._classes:
            return self._classes[name]
        target = self.builtin.get(name)
        if target is None:
            installed = entry_points(group=self.group)
            target = next((ep.value for ep in installed if ep.name == name), None)
        if target is None:
            raise ConfigError(
                f"unknown {self.kind} {name!r}",
                option=self.kind,
                value=name,
                hint=f"choose one of {', '.join([*self.choices, *self.names()])}, or register "
                f"it with reprolam.register_{self.kind} (or the {self.group} entry point)",
            )
        module, _, attr = target.partition(":")
        cls = getattr(importlib.import_module(module), attr)
        self._classes.setdefault(name, cls)
        return cls  # type: ignore[no-any-return]

    def build(self, config: Mapping[str, Any], **context: Any) -> Any:
        """A fresh instance of the kind, and with the settings, that ``config`` records."""
        name = str(config["name"])
        cls = self.get(name)
        from_config: Callable[..., Any] | None = getattr(cls, "from_config", None)
        if from_config is not None:
            return from_config(config, **context)
        settings = {k: v for k, v in config.items() if k != "name"}
        try:
            return cls(**settings)
        except TypeError as exc:
            raise ConfigError(
                f"cannot build {self.kind} {name!r} from its recorded config {dict(config)!r}: "
                f"{exc}",
                hint="give the class a from_config(config, **context) classmethod",
            ) from None
