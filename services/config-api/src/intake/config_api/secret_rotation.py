"""Re-encrypting every stored secret with the first key of `INTAKE_SECRET_KEY`, in one transaction.

A secret column is any `bytea` column named `*_encrypted` in schema `config` (inbox passwords, OAuth2
client secrets and refresh tokens, and whatever later migrations add under that name). Each table is
locked against writers while it is rewritten; if any value cannot be decrypted with any of the keys,
nothing is changed and the error names the table and column, never a value.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from intake.shared.database import Session
from intake.shared.secrets import SecretBox, SecretDecryptionError

log = structlog.get_logger(__name__)


class RotationFailed(Exception):
    """A stored secret could not be decrypted with any key; nothing was re-encrypted."""


@dataclass(frozen=True)
class RotationReport:
    secrets: int  # values re-encrypted
    columns: tuple[str, ...]  # "table.column" of every secret column found


async def secret_columns(conn: Session) -> dict[str, list[str]]:
    """Every secret column in schema `config`, by table."""
    rows = await conn.fetch(
        r"""SELECT c.table_name, c.column_name
            FROM information_schema.columns c
            JOIN information_schema.tables t USING (table_schema, table_name)
            WHERE c.table_schema = 'config' AND t.table_type = 'BASE TABLE' AND c.data_type = 'bytea'
              AND c.column_name LIKE '%\_encrypted'
            ORDER BY c.table_name, c.ordinal_position"""
    )
    columns: dict[str, list[str]] = {}
    for row in rows:
        columns.setdefault(row["table_name"], []).append(row["column_name"])
    return columns


async def rotate_secrets(conn: Session, box: SecretBox) -> RotationReport:
    """Re-encrypt every secret with `box`'s first key; all or nothing."""
    count = 0
    found: list[str] = []
    async with conn.transaction():
        for table, columns in (await secret_columns(conn)).items():
            qualified = f'config."{table}"'
            found.extend(f"config.{table}.{column}" for column in columns)
            # EXCLUSIVE: readers go on, writers wait, so a row's ctid stays put until it is rewritten.
            await conn.execute(f"LOCK TABLE {qualified} IN EXCLUSIVE MODE")
            selected = ", ".join(f'"{column}"' for column in columns)
            present = " OR ".join(f'"{column}" IS NOT NULL' for column in columns)
            for row in await conn.fetch(f"SELECT ctid, {selected} FROM {qualified} WHERE {present}"):
                values = []
                for column in columns:
                    token = row[column]
                    try:
                        values.append(None if token is None else box.rotate(token))
                    except SecretDecryptionError:
                        raise RotationFailed(
                            f"a value in config.{table}.{column} cannot be decrypted with any key in "
                            "INTAKE_SECRET_KEY; nothing was changed (add the key it was encrypted with)"
                        ) from None
                    count += token is not None
                assignments = ", ".join(f'"{column}" = ${n}' for n, column in enumerate(columns, start=2))
                await conn.execute(f"UPDATE {qualified} SET {assignments} WHERE ctid = $1", row["ctid"], *values)
    log.info("stored secrets re-encrypted with the first key", re_encrypted=count, columns=found)
    return RotationReport(count, tuple(found))
