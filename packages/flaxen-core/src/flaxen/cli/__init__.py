"""The ``flaxen`` command line.

Subcommands come from plugins (the ``flaxen_cli_commands`` hook): flaxen-core
provides ``flaxen plugins``, flaxen-checkpoint ``flaxen checkpoint``.
"""

from ._main import main as main
from ._table import render_table as render_table
