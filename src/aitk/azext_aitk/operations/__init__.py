"""The command functions, one module per command (registered in commands.py). Each reads the
workspace (core), asks Azure (azure) and returns a JSON-able result; progress goes to stderr.
The extension's own errors (core/errors.py) become az errors in the command group's exception
handler (_exception_handler.py)."""
