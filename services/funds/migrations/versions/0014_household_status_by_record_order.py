"""household_view: the current status is the latest the registry recorded, not the latest by
business date (an approval dated back no longer loses to the application recorded before it)

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        UPDATE household_view v
           SET status = latest.status,
               status_since = latest.effective_on,
               exited_on = CASE WHEN latest.status = 'exited' THEN latest.effective_on END
          FROM (SELECT DISTINCT ON (household_id) household_id, status, effective_on
                  FROM household_status_history
                 ORDER BY household_id, id DESC) latest
         WHERE latest.household_id = v.household_id
           AND (v.status, v.status_since) IS DISTINCT FROM (latest.status, latest.effective_on)
        """
    )


def downgrade() -> None:
    """Nothing to undo: the next event of each household recomputes its row either way."""
