"""Run the social relay and consumers without the HTTP API: python -m fupin_social.worker"""

from fupin_kit.worker import run_worker
from fupin_social.config import Settings
from fupin_social.consumers import build_consumers

if __name__ == "__main__":
    run_worker(Settings(), build_consumers)
