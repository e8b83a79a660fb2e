"""resource-server keys (private_key_jwt) and the shared one-time jti table

Revision ID: 0006
Revises: 0005

Expand only: two new tables the previous release's code never reads.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "resource_server_keys",
        sa.Column("principal_id", sa.String(length=40), nullable=False),
        sa.Column("kid", sa.String(length=200), nullable=False),
        sa.Column("public_jwk", sa.String(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["principal_id"], ["principals.id"]),
        sa.PrimaryKeyConstraint("principal_id", "kid"),
    )
    op.create_table(
        "used_jtis",
        sa.Column("namespace", sa.String(length=200), nullable=False),
        sa.Column("jti", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("namespace", "jti"),
    )
    with op.batch_alter_table("used_jtis", schema=None) as batch_op:
        batch_op.create_index("ix_used_jtis_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("used_jtis", schema=None) as batch_op:
        batch_op.drop_index("ix_used_jtis_expires_at")
    op.drop_table("used_jtis")
    op.drop_table("resource_server_keys")
