"""The read-only web console: models, versions, fidelity and nightly runs, at ``/ui/``.

The scoring service registers :func:`console_blueprint` (on by default; ``scorebridge serve --no-ui``
turns it off); ``scorebridge console`` serves it alone. See ``docs/console.md``.
"""

from web_console.blueprint import console_blueprint, plots_available

__all__ = ["console_blueprint", "plots_available"]
