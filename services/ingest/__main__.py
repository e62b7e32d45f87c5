"""Run the ingest service as a Faust worker: ``python -m services.ingest``."""

from services.ingest.app import create_app
from shared.streaming import run_worker

if __name__ == "__main__":
    run_worker(create_app())
