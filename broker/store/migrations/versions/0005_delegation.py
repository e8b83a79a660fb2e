"""delegation: a delegated token names its parent token and its current actor

Expand only: a nullable column and its index, so a broker of the previous release (which
never writes the column) keeps working on this schema.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_jti", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("actor_id", sa.String(length=40), nullable=True))
        batch_op.create_index("ix_tokens_parent_jti", ["parent_jti"], unique=False)
        batch_op.create_index("ix_tokens_actor_id", ["actor_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_tokens_actor_id")
        batch_op.drop_index("ix_tokens_parent_jti")
        batch_op.drop_column("actor_id")
        batch_op.drop_column("parent_jti")
