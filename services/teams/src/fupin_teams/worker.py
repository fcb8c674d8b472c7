"""Run the teams relay and consumers without the HTTP API: python -m fupin_teams.worker"""

from fupin_kit.worker import run_worker
from fupin_teams.config import Settings
from fupin_teams.consumers import build_consumers

if __name__ == "__main__":
    run_worker(Settings(), build_consumers)
