"""Which channel adapters are installed: the entry-point group `campaign_manager.channels`.

Built-in adapters are declared in this project's pyproject.toml; a third-party package adds
one by declaring, in its own packaging metadata,

    [project.entry-points."campaign_manager.channels"]
    my_network = "my_package.adapter:MyNetworkAdapter"

The entry point's name must equal the adapter class's `name`. An adapter that fails to
import or lacks part of the protocol is listed as broken, with the reason, instead of
breaking every page that lists adapters.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from campaign_manager.channels.base import ChannelAdapter, ChannelKind, SupportsWebhooks

ENTRY_POINT_GROUP = "campaign_manager.channels"

# What a class must have to be used as an adapter (see base.ChannelAdapter).
REQUIRED_ATTRIBUTES = ("name", "kind", "display_name", "fields", "idempotent")
REQUIRED_METHODS = ("validate", "send", "check_connection", "close")


class AdapterNotAvailable(LookupError):
    """The named adapter cannot be used; the message says why and is safe to show."""


@dataclass(frozen=True)
class InstalledAdapter:
    name: str
    # Where it comes from: "module:Class" and the distribution that declared it.
    target: str
    distribution: str
    adapter_class: type[ChannelAdapter] | None = None
    error: str = ""

    @property
    def is_usable(self) -> bool:
        return self.adapter_class is not None

    @property
    def display_name(self) -> str:
        return self.adapter_class.display_name if self.adapter_class else self.name

    @property
    def kind(self) -> ChannelKind | None:
        return self.adapter_class.kind if self.adapter_class else None

    @property
    def is_sandbox(self) -> bool:
        return bool(self.adapter_class and getattr(self.adapter_class, "sandbox", False))

    @property
    def receives_webhooks(self) -> bool:
        return bool(self.adapter_class and issubclass(self.adapter_class, SupportsWebhooks))


def _load(entry_point: EntryPoint) -> InstalledAdapter:
    distribution = entry_point.dist.name if entry_point.dist else "unknown package"
    found = InstalledAdapter(entry_point.name, entry_point.value, distribution)
    try:
        adapter_class = entry_point.load()
    except Exception as exc:  # any import-time failure of someone else's package
        return _broken(found, f"cannot be imported: {type(exc).__name__}: {exc}")
    if not isinstance(adapter_class, type):
        return _broken(found, f"{entry_point.value} is not a class")
    missing = [a for a in REQUIRED_ATTRIBUTES if not hasattr(adapter_class, a)]
    missing += [m for m in REQUIRED_METHODS if not callable(getattr(adapter_class, m, None))]
    if missing:
        return _broken(found, f"{entry_point.value} lacks {', '.join(missing)}")
    if adapter_class.name != entry_point.name:
        return _broken(
            found,
            f"entry point '{entry_point.name}' names a class whose name is "
            f"'{adapter_class.name}'; the two must be equal",
        )
    try:
        ChannelKind(adapter_class.kind)
    except ValueError:
        return _broken(found, f"unknown kind {adapter_class.kind!r}")
    return InstalledAdapter(
        entry_point.name, entry_point.value, distribution, adapter_class=adapter_class
    )


def _broken(found: InstalledAdapter, error: str) -> InstalledAdapter:
    return InstalledAdapter(found.name, found.target, found.distribution, error=error)


@functools.cache
def _scan() -> dict[str, InstalledAdapter]:
    adapters: dict[str, InstalledAdapter] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name in adapters:
            # Two packages claim one name: refuse both rather than pick one silently.
            first = adapters[entry_point.name]
            adapters[entry_point.name] = _broken(
                first,
                f"declared twice, by {first.distribution} and by "
                f"{entry_point.dist.name if entry_point.dist else 'another package'}",
            )
            continue
        adapters[entry_point.name] = _load(entry_point)
    return dict(sorted(adapters.items()))


def installed_adapters() -> list[InstalledAdapter]:
    """Every declared adapter, usable or broken, sorted by name."""
    return list(_scan().values())


def adapter_class(name: str) -> type[ChannelAdapter]:
    """The class of the adapter called `name`, or AdapterNotAvailable saying why not."""
    found = _scan().get(name)
    if found is None:
        known = ", ".join(_scan()) or "none"
        raise AdapterNotAvailable(
            f"no channel adapter named '{name}' is installed (installed: {known}). "
            "Install the package that provides it, then restart."
        )
    if found.adapter_class is None:
        raise AdapterNotAvailable(
            f"the channel adapter '{name}' from {found.distribution} is broken: {found.error}"
        )
    return found.adapter_class


def rescan() -> None:
    """Forget what was found, so packages installed since are seen (tests, plugin installs)."""
    _scan.cache_clear()
