"""The scorebridge scoring service: a Flask app over a model repository, run under gunicorn.

``create_app(config)`` builds the WSGI app; ``scorebridge serve`` (:mod:`scoring_service.cli`) runs it
under gunicorn; :func:`scoring_service.testing.running_service` starts the real server for tests.
"""

from scoring_service.app import create_app
from scoring_service.config import ServiceConfig

__all__ = ["ServiceConfig", "create_app"]
