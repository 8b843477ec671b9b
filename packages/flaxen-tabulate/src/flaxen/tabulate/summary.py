"""Module summaries (``flaxen.linen.summary``): ``tabulate``, its rows as data, exports."""

from ._export import export_html as export_html
from ._export import export_svg as export_svg
from ._rows import Row as Row
from ._rows import Table as Table
from ._tabulate import render as render
from ._tabulate import summarize as summarize
from ._tabulate import tabulate as tabulate
