"""The service's routes, one module per resource; `finsync.api.main` includes them all and is
the only module that imports them (they never import each other)."""
