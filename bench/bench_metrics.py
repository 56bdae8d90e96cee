"""What metrics and correlation ids add to the ingestor's work per message, in CPU time (issue 12).

Each piece the hot path gained is timed on its own with the process's CPU clock (not wall time: the
machine is shared), over batches of 100 messages as the ingestor's batches are:
- counting: `IngestorMetrics.outcome_committed` per message (outcome counter and delivery latency) and
  `batch_committed` per batch;
- the per-batch "messages processed" log line, through the services' own structlog configuration;
- the correlation id in the AMQP content header of each publish (pamqp encodes the header table),
  against the same properties without it; the ingestor publishes two events per message;
- reading the id back from a delivery's headers.
Compare the total with the ingestor's CPU per message in `make bench BENCH=ingestor` (about 0.8 ms).
"""

from __future__ import annotations

import logging
import os
import time
import timeit
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import aiormq
import structlog
from pamqp.header import ContentHeader

from bench.report import write_section
from intake.ingestor.handler import log_fields
from intake.ingestor.metrics import IngestorMetrics
from intake.shared import bus, topology
from intake.shared.contracts import MessageFetched, Outcome
from intake.shared.logging import configure_logging

BATCH = 100
REPEATS = 7
CALLS = 200


def per_message_us(work: Callable[[], None]) -> float:
    """The best of REPEATS runs of CALLS calls of `work` (one batch each), in CPU microseconds per message."""
    best = min(timeit.Timer(work, timer=time.process_time).repeat(number=CALLS, repeat=REPEATS))
    return best / CALLS / BATCH * 1e6


def main() -> None:
    configure_logging("ingestor", "info")
    with open(os.devnull, "w") as devnull:
        handler = logging.getLogger().handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(devnull)
        results = measure()
    lines = [f"- {name}: {us:.2f} µs CPU per message" for name, us in results.items() if not name.startswith("_")]
    added = (
        results["counting (outcome counter, latency histogram, batch histograms)"]
        + results["per-batch log line naming each message"]
        + 2 * results["_header"]
        + results["reading the correlation id from a delivery"]
    )
    body = "\n".join(
        [
            "The work the ingestor's batch path gained with metrics and correlation ids, each timed alone on "
            "the process's CPU clock (best of 7 × 200 batches of 100 messages):",
            "",
            *lines,
            f"- the correlation header on a publish: {results['_header']:.2f} µs more per event "
            f"({results['_with']:.2f} with it, {results['_without']:.2f} without); two events per message",
            "",
            f"Added in all: about {added:.1f} µs CPU per message, against about 800 µs of ingestor CPU per "
            "message (`make bench BENCH=ingestor`, ingestor alone, steady state): about "
            f"{added / 800 * 100:.1f} %.",
        ]
    )
    write_section("metrics", "Metrics and correlation ids: cost per message", "make bench BENCH=metrics", body)


def measure() -> dict[str, float]:
    metrics = IngestorMetrics()
    now = datetime.now(UTC)
    batch = [
        MessageFetched(
            inbox_id=1,
            uidvalidity=1,
            uid=uid,
            raw_sha256="a" * 64,
            size=100,
            fetched_at=now,
            message_id=f"<m{uid}@example.com>",
            received_at=now - timedelta(seconds=2),
        )
        for uid in range(1, BATCH + 1)
    ]
    correlations = [uuid.uuid4().hex for _ in batch]
    headers = [{topology.CORRELATION_HEADER: correlation} for correlation in correlations]
    log = structlog.get_logger("bench")

    def counting() -> None:
        moment = time.time()
        for fetched in batch:
            metrics.outcome_committed(fetched, Outcome.ISSUE_CREATED, moment)
        metrics.batch_committed(BATCH, 0.05)

    def log_line() -> None:
        log.info(
            "messages processed",
            messages=[
                {**log_fields(fetched, correlation), "outcome": "issue_created"}
                for fetched, correlation in zip(batch, correlations, strict=True)
            ],
            deferred=0,
            alone=0,
        )

    def reading() -> None:
        for table in headers:
            bus.correlation_id(table)

    def encoding(with_header: bool) -> Callable[[], None]:
        def encode() -> None:
            for table in headers:
                properties = aiormq.spec.Basic.Properties(
                    content_type="application/json",
                    delivery_mode=bus.PERSISTENT,
                    app_id="intake-ingestor",
                    headers=table if with_header else None,
                )
                ContentHeader(0, 300, properties).marshal()

        return encode

    with_header, without = per_message_us(encoding(True)), per_message_us(encoding(False))
    return {
        "counting (outcome counter, latency histogram, batch histograms)": per_message_us(counting),
        "per-batch log line naming each message": per_message_us(log_line),
        "reading the correlation id from a delivery": per_message_us(reading),
        "_with": with_header,
        "_without": without,
        "_header": with_header - without,
    }


if __name__ == "__main__":
    main()
