"""Points app.py's handlers at a given Components: the one seam through which a test (or the
fuzz harness, per invocation) gives the function its collaborators."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import app as app_module
from chalicelib.components import Components


@contextmanager
def serving(components: Components) -> Iterator[Components]:
    """app.py's handlers use ``components`` inside the block, the ones they had afterwards."""
    previous = app_module.components
    app_module.components = components
    try:
        yield components
    finally:
        app_module.components = previous
