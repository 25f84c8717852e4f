"""The function library: importing this package registers every function in
:data:`builder.expr.registry.FUNCTIONS`."""

from builder.expr.library import dates, logic, numeric, text  # noqa: F401
