"""Run the evaluation relay and consumers without the HTTP API: python -m fupin_evaluation.worker"""

from fupin_evaluation.config import Settings
from fupin_evaluation.consumers import build_consumers
from fupin_kit.worker import run_worker

if __name__ == "__main__":
    run_worker(Settings(), build_consumers)
