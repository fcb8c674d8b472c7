"""Run the funds relay and consumers without the HTTP API: python -m fupin_funds.worker"""

from fupin_funds.config import Settings
from fupin_funds.consumers import build_consumers
from fupin_kit.worker import run_worker

if __name__ == "__main__":
    run_worker(Settings(), build_consumers)
