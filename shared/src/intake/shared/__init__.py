"""Code that two or more Intake services need: contracts, topology, settings, logging, blob store, migrations.

Nothing here connects or reads the environment at import time.
"""
