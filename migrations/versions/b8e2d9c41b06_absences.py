"""out of office (外出): a member of staff's periods away and their substitute

Revision ID: b8e2d9c41b06
Revises: d7e2d9c41b04
Create Date: 2026-12-03 06:10:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = 'b8e2d9c41b06'
down_revision = 'd7e2d9c41b04'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'absence',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('username', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('substitute', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('starts_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('ends_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('reason', sa.Text(), server_default='', nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('ended_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_absence')),
    )
    with op.batch_alter_table('absence', schema=None) as batch_op:
        batch_op.create_index('ix_absence_username_ends_at', ['username', 'ends_at'], unique=False)


def downgrade():
    with op.batch_alter_table('absence', schema=None) as batch_op:
        batch_op.drop_index('ix_absence_username_ends_at')
    op.drop_table('absence')
