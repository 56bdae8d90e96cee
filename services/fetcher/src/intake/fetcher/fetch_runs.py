"""Which of a cycle's UIDs are fetched together: small bodies several to a UID FETCH, the rest alone (pure).

A batch is a run of consecutive UIDs of the cycle, taken in UID order. Its `together` UIDs (small
messages of known size, read without trouble so far) are fetched with one command; its other UIDs
(known already, too large, tried before, without a size) are handled one by one, as before. A batch
ends at MAX_BODIES_PER_FETCH together-UIDs or MAX_BATCH_BYTES of them, or at MAX_BATCH_UIDS UIDs.
Each batch is then stored in one transaction and published at once. No I/O here.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

# aioimaplib's costs grow with a FETCH answer's size (DESIGN §2): keep each one small.
MAX_BODIES_PER_FETCH = 32
MAX_BATCH_BYTES = 512 * 1024
# A message bigger than this is fetched alone.
MAX_BATCHED_BODY_BYTES = 64 * 1024
# One batch is one store transaction and one publish round: bound it even when nothing is fetched together.
MAX_BATCH_UIDS = 64


@dataclass(frozen=True)
class Batch:
    uids: tuple[int, ...]  # every UID of the batch, in order
    together: tuple[int, ...]  # those fetched with one UID FETCH


def plan(
    uids: Iterable[int],
    sizes: Mapping[int, int],
    batchable: Collection[int],
    *,
    max_bodies: int = MAX_BODIES_PER_FETCH,
    max_bytes: int = MAX_BATCH_BYTES,
    max_uids: int = MAX_BATCH_UIDS,
) -> list[Batch]:
    """Cut `uids` (in order) into batches; only `batchable` UIDs (each with a size in `sizes`) go together.

    >>> plan([1, 2, 3, 4], {1: 10, 2: 10, 3: 10, 4: 10}, {1, 2, 4}, max_bodies=2)
    [Batch(uids=(1, 2, 3), together=(1, 2)), Batch(uids=(4,), together=(4,))]
    >>> plan([1, 2, 3], {1: 60, 2: 60, 3: 10}, {1, 2, 3}, max_bytes=100)
    [Batch(uids=(1,), together=(1,)), Batch(uids=(2, 3), together=(2, 3))]
    """
    batches: list[Batch] = []
    current: list[int] = []
    together: list[int] = []
    total = 0
    for uid in sorted(uids):
        size = sizes.get(uid, 0)
        joins = uid in batchable
        if current and (
            len(current) >= max_uids or (joins and (len(together) >= max_bodies or total + size > max_bytes))
        ):
            batches.append(Batch(tuple(current), tuple(together)))
            current, together, total = [], [], 0
        current.append(uid)
        if joins:
            together.append(uid)
            total += size
    if current:
        batches.append(Batch(tuple(current), tuple(together)))
    return batches
