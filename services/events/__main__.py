"""Run the events service as a Faust worker: ``python -m services.events``."""

from services.events.app import create_app
from shared.streaming import run_worker

if __name__ == "__main__":
    run_worker(create_app())
