"""Errors and warnings of the plugin system (flaxen additions to the catalog)."""

from __future__ import annotations

from ._base import FlaxenError, FlaxenWarning


class PluginLoadError(FlaxenError, ImportError):
    """A plugin failed to import or to register its contributions.

    Outside strict mode the plugin is skipped and a :class:`PluginWarning`
    carries the same text; with ``FLAXEN_STRICT_PLUGINS=1`` this error is
    raised instead. Fix the plugin, upgrade or uninstall its distribution, or
    skip it with ``FLAXEN_DISABLE_PLUGINS=<name>``.
    """

    def __init__(self, plugin: str, distribution: str, version: str, error: str):
        self.plugin = plugin
        self.distribution = distribution
        self.version = version
        self.error = error
        super().__init__(
            f'The flaxen plugin "{plugin}" from {distribution} {version} failed to'
            f" load: {error}. Upgrade or reinstall {distribution}, uninstall it, or"
            f" skip this plugin by setting FLAXEN_DISABLE_PLUGINS={plugin}."
        )


class PluginConflictError(FlaxenError, ValueError):
    """Two plugins registered the same name in the same category.

    The plugin loaded first keeps the name; the second is skipped as a whole
    (or, with ``FLAXEN_STRICT_PLUGINS=1``, this error is raised). Uninstall
    one of the two distributions or disable one of the plugins.
    """

    def __init__(
        self,
        category: str,
        name: str,
        first_distribution: str,
        second_distribution: str,
    ):
        self.category = category
        self.name = name
        self.first_distribution = first_distribution
        self.second_distribution = second_distribution
        super().__init__(
            f'"{name}" is registered twice in {category}: by {first_distribution}'
            f" and by {second_distribution}. Only one provider per name is"
            f" allowed; uninstall one of the two distributions or disable one"
            f" plugin with FLAXEN_DISABLE_PLUGINS."
        )


class MissingPackageError(FlaxenError, ImportError):
    """A name belongs to a flaxen distribution that is not installed."""

    def __init__(
        self, name: str, distribution: str, where: str = "flaxen.linen", installed: bool = False
    ):
        self.missing_name = name
        self.distribution = distribution
        self.installed = installed
        if installed:
            message = (
                f"{where}.{name} is provided by the {distribution} distribution, which is"
                f" installed but did not register it: its plugin may be disabled"
                f" (FLAXEN_DISABLE_PLUGINS), broken, or too old. Run `flaxen plugins` to"
                f" see what each plugin registered, and reinstall {distribution}."
            )
        else:
            message = (
                f"{where}.{name} is provided by the {distribution} distribution, which"
                f" is not installed. Install it with `pip install {distribution}` (or"
                f" `pip install flaxen` for every flaxen package)."
            )
        super().__init__(message)


class PluginWarning(FlaxenWarning):
    """A plugin was skipped; the message names it and says how to fix it."""
