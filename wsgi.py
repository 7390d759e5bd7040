"""Entry point for gunicorn: gunicorn wsgi:app"""

import gc

from fieldsvc import create_app

app = create_app()
# What start-up created (modules, mappers, the routing map) lives as long as the worker:
# moved out of the collector's reach, it is not walked again by each full collection
# (about half of the collector's time per request on the incident list).
gc.freeze()
