import pytest

from fupin_funds.projects.lifecycle import TRANSITIONS, ProjectAction, ProjectStatus, next_status
from fupin_kit.problems import InvalidTransition

HAPPY_PATH = [
    (ProjectAction.APPROVE, ProjectStatus.APPROVED),
    (ProjectAction.ANNOUNCE, ProjectStatus.ANNOUNCED),
    (ProjectAction.START, ProjectStatus.IN_PROGRESS),
    (ProjectAction.COMPLETE, ProjectStatus.COMPLETED),
    (ProjectAction.ACCEPT, ProjectStatus.ACCEPTED),
    (ProjectAction.EVALUATE, ProjectStatus.EVALUATED),
]


def test_the_lifecycle_in_order():
    status = ProjectStatus.PROPOSED
    for action, expected in HAPPY_PATH:
        status = next_status(status, action)
        assert status is expected


@pytest.mark.parametrize("status", list(ProjectStatus))
@pytest.mark.parametrize("action", list(ProjectAction))
def test_every_other_transition_is_refused(status, action):
    if (status, action) in TRANSITIONS:
        assert next_status(status, action) is TRANSITIONS[(status, action)]
    else:
        with pytest.raises(InvalidTransition) as refused:
            next_status(status, action)
        assert refused.value.status == 409
