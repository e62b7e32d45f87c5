"""Run the extract service as a Faust worker: ``python -m services.extract``."""

from services.extract.app import create_app
from shared.streaming import run_worker

if __name__ == "__main__":
    run_worker(create_app())
