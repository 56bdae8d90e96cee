"""The HTTP routes of the config API, one module per resource; they only move data between HTTP and the core."""
