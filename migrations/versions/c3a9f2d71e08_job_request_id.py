"""job.request_id: the request that enqueued a job, so its handler logs under that request's id

Revision ID: c3a9f2d71e08
Revises: b7d41c0e9a35
Create Date: 2026-12-02 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = 'c3a9f2d71e08'
down_revision = 'b7d41c0e9a35'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))


def downgrade():
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.drop_column('request_id')
