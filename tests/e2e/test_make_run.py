"""`make run` on a fresh checkout: the stack, a development mailbox with its inbox, and `make send-sample`.

Runs the entry points the Makefile runs (`python -m deploy.local.run`, `python -m deploy.local.send_sample`)
in a copy of `deploy/local/` and `.env.example` under the test's tmp folder, so `.env` and `.run/` are made
fresh there; the database, vhost and every port are the test's own.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from deploy.local.dovecot import find_dovecot, greets
from deploy.local.sample_mail import invoice_pdf
from tests.support.processes import free_port, make_env, wait_until

REPO = Path(__file__).resolve().parents[2]
UP_TIMEOUT = 90.0


@dataclass
class MakeRun:
    """One `make run` process in a checkout copy: its output, its .env, and a clean stop."""

    root: Path
    env: dict[str, str]
    output: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.output.open("ab") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "deploy.local.run"], cwd=self.root, env=self.env, stdout=sink, stderr=sink
            )

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_up(self, times: int = 1) -> str:
        assert self.process is not None
        process = self.process
        wait_until(
            lambda: self.text().count("run: Intake is up.") >= times or process.poll() is not None,
            timeout=UP_TIMEOUT,
            what="make run to say the stack is up",
            explain=lambda: self.text()[-8000:],
        )
        assert process.poll() is None, self.text()[-8000:]
        return self.text().split("run: Intake is up.")[-1]

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                return -9
        return self.process.returncode

    def admin_token(self) -> str:
        match = re.search(r"^INTAKE_ADMIN_TOKEN=(\S+)$", (self.root / ".env").read_text(), re.M)
        assert match, "make run wrote no admin token to .env"
        return match.group(1)

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"http://127.0.0.1:{self.env['INTAKE_API_PORT']}",
            headers={"Authorization": f"Bearer {self.admin_token()}"},
            timeout=10,
        )


@pytest.fixture
def make_run(database_url: str, amqp_url: str, tmp_path: Path) -> Iterator[MakeRun]:
    # As root, Dovecot reads the dev mailbox's files as its own users: the checkout must be reachable
    # by them, which pytest's tmp folders (mode 0700) are not.
    root = Path(tempfile.mkdtemp(prefix="intake-make-run-"))
    root.chmod(0o755)
    (root / "deploy").mkdir()
    shutil.copy(REPO / "deploy" / "__init__.py", root / "deploy")
    shutil.copytree(REPO / "deploy" / "local", root / "deploy" / "local", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / ".env.example", root / ".env.example")
    env = make_env(
        database_url=database_url,
        amqp_url=amqp_url,
        api_port=str(free_port()),
        dev_mailbox_port=str(free_port()),
        fetcher_http_port=str(free_port()),
        ingestor_http_port=str(free_port()),
        fetcher_inbox_refresh_seconds="1",
    )
    run = MakeRun(root, env, tmp_path / "make-run.out")
    try:
        yield run
    finally:
        if run.process is not None and run.process.poll() is None:
            run.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_make_run_dev_mailbox_and_send_sample_give_issues(make_run: MakeRun) -> None:
    if find_dovecot() is None:
        pytest.skip("dovecot-imapd is not installed (apt-get install dovecot-imapd)")
    dev_port = int(make_run.env["INTAKE_DEV_MAILBOX_PORT"])
    make_run.start()
    banner = make_run.wait_up()
    api_port = make_run.env["INTAKE_API_PORT"]
    assert f"Console     http://127.0.0.1:{api_port}/" in banner
    assert "INTAKE_ADMIN_TOKEN" in banner
    assert make_run.admin_token() not in make_run.text(), "the admin token is printed"
    assert f"dev@example.com at 127.0.0.1:{dev_port}, plain IMAP" in banner
    assert "inbox #1 (created)" in banner, banner
    assert (make_run.root / ".run" / "dev-mailbox" / "dovecot.conf").exists()
    assert greets("127.0.0.1", dev_port)

    sent = subprocess.run(
        [sys.executable, "-m", "deploy.local.send_sample"],
        cwd=make_run.root,
        env=make_run.env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr + make_run.text()[-6000:]
    assert "no outcome" not in sent.stdout, sent.stdout

    with make_run.api() as api:
        (inbox,) = api.get("/api/v1/inboxes").json()["items"]
        log = {row["subject"]: row for row in api.get("/api/v1/email-log", params={"limit": 50}).json()["items"]}
        issues = {issue["title"]: issue for issue in api.get("/api/v1/issues").json()["items"]}
        assert inbox["email"] == "dev@example.com"
        (support,) = [kind for kind in api.get("/api/v1/issue-types").json()["items"] if kind["name"] == "Support"]
        assert inbox["issue_type_id"] == support["id"]
        assert all(row["inbox_id"] == inbox["id"] for row in log.values())
        assert len(log) == 5, log
        assert log["Automatic reply: VPN drops every hour"]["outcome"] == "auto_generated"

        printer = issues["Printer on the 3rd floor jams on every print job"]
        reply = log[f"Re: Printer on the 3rd floor jams on every print job [#{printer['number']}]"]
        assert (reply["outcome"], reply["issue_number"]) == ("issue_updated", printer["number"])
        assert len(api.get(f"/api/v1/issues/{printer['number']}").json()["messages"]) == 2

        invoice = api.get(f"/api/v1/issues/{issues['Invoice INV-2026-0114 does not match our order']['number']}")
        (attachment,) = invoice.json()["messages"][0]["attachments"]
        assert attachment["filename"] == "INV-2026-0114.pdf"
        pdf = invoice_pdf("INV-2026-0114", "EUR 1,836.00")
        assert attachment["sha256"] == hashlib.sha256(pdf).hexdigest()

        german = issues["Zahlung für Bestellung Nr. 4711 fehlgeschlagen – bitte prüfen"]
        assert german["requester"] == {"email": "zoe.mueller@example.de", "name": "Zoë Müller"}
        body = api.get(f"/api/v1/issues/{german['number']}").json()["messages"][0]["body_text"]
        assert "417,50 €" in body

    assert make_run.stop() == 0, make_run.text()[-6000:]
    assert "run: stopped" in make_run.text()
    assert not greets("127.0.0.1", dev_port), "Dovecot outlived make run"

    # A second run finds the inbox it made instead of making another, and the mailbox keeps its mail.
    make_run.start()
    banner = make_run.wait_up(times=2)
    assert "inbox #1 (already there)" in banner, banner
    with make_run.api() as api:
        assert len(api.get("/api/v1/inboxes").json()["items"]) == 1
    assert make_run.stop() == 0, make_run.text()[-6000:]


def test_dev_mailbox_off_runs_without_dovecot(make_run: MakeRun) -> None:
    make_run.env["INTAKE_DEV_MAILBOX"] = "off"
    make_run.start()
    banner = make_run.wait_up()
    assert "Dev mailbox off (INTAKE_DEV_MAILBOX=off)" in banner
    assert not (make_run.root / ".run" / "dev-mailbox").exists()
    assert not greets("127.0.0.1", int(make_run.env["INTAKE_DEV_MAILBOX_PORT"]))
    with make_run.api() as api:
        assert api.get("/api/v1/inboxes").json()["items"] == []
    assert make_run.stop() == 0, make_run.text()[-6000:]
