"""dmc: a local coding assistant built as composable Unix commands.

The library half: one module or package per stage, the document contract, configuration.
No CLI code and no printing live here; see ``dmc.commands`` for the command line.
"""

__version__ = "0.1.0"
