"""The ``dsa110`` command: the home of every command-line tool.

Each module in this package defines one click command named ``command``;
they are discovered here, so adding a tool means adding one module.
"""

from __future__ import annotations

import importlib
import pkgutil

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dsa110-contimg")
def main() -> None:
    """DSA-110 continuum imaging pipeline: simulate, convert, calibrate, image."""


def _register_commands() -> None:
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        command = getattr(module, "command", None)
        if isinstance(command, click.Command):
            main.add_command(command)


_register_commands()
