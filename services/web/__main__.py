"""``python -m services.web``: serve the search page on ``HADATH_WEB_HOST:HADATH_WEB_PORT``."""

from services.web.app import main

main()
