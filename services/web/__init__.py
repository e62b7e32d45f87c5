"""The search page (``python -m services.web``): see :mod:`services.web.app`."""
