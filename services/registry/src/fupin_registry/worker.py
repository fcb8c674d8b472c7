"""Run the registry relay and consumers without the HTTP API: python -m fupin_registry.worker"""

from fupin_kit.worker import run_worker
from fupin_registry.config import Settings
from fupin_registry.consumers import build_consumers

if __name__ == "__main__":
    run_worker(Settings(), build_consumers)
