"""A private Dovecot IMAP server for tests: its own directory, port and passwd-file users.

The server runs in the foreground as a child of the test process (`dovecot -F`), listens on
127.0.0.1 without TLS, keeps mail as Maildir under a scratch directory, and reads each user from
their own passwd-file, so each test can add a fresh user (an empty mailbox) without a
restart. Started once per test session (and xdist worker).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from cctest import services
from commandcentre.db.scoping import system_session
from commandcentre.inbound.imap import ImapAccount, ImapConnection, open_connection
from commandcentre.outreach.models import Mailbox
from commandcentre.workspaces import services as ws

DOVECOT = os.environ.get("COMMANDCENTRE_TEST_DOVECOT", "/usr/sbin/dovecot")
SENT_FOLDER = "Sent"

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
info_log_path = {dir}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# Tests try wrong passwords on purpose; no need to wait 2 s each time.
auth_failure_delay = 0
{users_section}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/users/%u
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/mail/%u
}}
mail_location = maildir:~/Maildir
first_valid_uid = 0
namespace inbox {{
  inbox = yes
  separator = /
  mailbox {sent} {{
    special_use = \\Sent
    auto = create
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


def dovecot_available() -> bool:
    return os.access(DOVECOT, os.X_OK) or shutil.which(DOVECOT) is not None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class MailUser:
    """One IMAP account on the test server."""

    host: str
    port: int
    username: str
    password: str

    @property
    def account(self) -> ImapAccount:
        return ImapAccount(
            host=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            ssl=False,
        )

    def settings(self) -> dict[str, Any]:
        """Keyword arguments for `Settings` that point the product at this account."""
        return {
            "imap_host": self.host,
            "imap_port": self.port,
            "imap_username": self.username,
            # A SecretStr already: model_copy(update=...) does not validate what it is given.
            "imap_password": SecretStr(self.password),
            "imap_ssl": False,
            "imap_sent_folder": SENT_FOLDER,
        }

    @contextmanager
    def client(self) -> Iterator[ImapConnection]:
        with open_connection(self.account) as conn:
            yield conn

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        with self.client() as conn:
            conn.append(folder, raw)

    def seen_flags(self, folder: str = "INBOX") -> dict[int, bool]:
        """UID -> whether the message carries \\Seen."""
        with self.client() as conn:
            conn.select_folder(folder, readonly=True)
            uids = conn.search(["ALL"])
            flags = conn.get_flags(uids) if uids else {}
        return {int(uid): b"\\Seen" in set(found) for uid, found in flags.items()}


class DovecotServer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.host = "127.0.0.1"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # Mail processes run as this user: nobody when we are root (Dovecot refuses root for
        # mail access), ourselves otherwise (then Dovecot runs entirely unprivileged).
        if os.geteuid() == 0:
            mail_user = pwd.getpwnam("nobody")
            users_section = ""
        else:
            mail_user = pwd.getpwuid(os.getuid())
            users_section = (
                f"default_internal_user = {mail_user.pw_name}\n"
                f"default_login_user = {mail_user.pw_name}\n"
            )
        for name in ("run", "state", "mail", "users"):
            (self.directory / name).mkdir(parents=True, exist_ok=True)
        os.chown(self.directory / "mail", mail_user.pw_uid, mail_user.pw_gid)
        last_error = ""
        for _ in range(5):  # a free port can be taken between probing and binding
            self.port = free_port()
            config = self.directory / "dovecot.conf"
            config.write_text(
                CONFIG.format(
                    dir=self.directory,
                    uid=mail_user.pw_uid,
                    gid=mail_user.pw_gid,
                    port=self.port,
                    sent=SENT_FOLDER,
                    users_section=users_section,
                )
            )
            self._process = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            if self._wait_ready():
                return
            last_error = self._stop_process()
        raise RuntimeError(f"dovecot did not start: {last_error}\n{self.log()}")

    def _wait_ready(self) -> bool:
        # A startup deadline, not a test assertion: Dovecot normally listens within ~15 ms.
        deadline = time.monotonic() + 15
        assert self._process is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            if services.port_open(self.host, self.port):
                return True
            time.sleep(0.01)
        return False

    def _stop_process(self) -> str:
        process, self._process = self._process, None
        if process is None:
            return ""
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
        if process.stderr:
            process.stderr.close()
        return stderr

    def stop(self) -> None:
        self._stop_process()

    def log(self) -> str:
        path = self.directory / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def add_user(self, username: str | None = None, password: str | None = None) -> MailUser:
        """A new account with an empty mailbox (INBOX and Sent)."""
        username = username or f"u{uuid.uuid4().hex[:12]}"
        password = password or uuid.uuid4().hex
        # One passwd-file per user (the path has %u in it): a new user is a new file, which
        # Dovecot reads on first login, rather than an edit it might not notice in time.
        path = self.directory / "users" / username
        staged = path.with_suffix(".new")
        staged.write_text(f"{username}:{{PLAIN}}{password}\n")
        staged.replace(path)
        return MailUser(self.host, self.port, username, password)


@contextmanager
def running_dovecot() -> Iterator[DovecotServer]:
    # Under /tmp rather than pytest's tmp_path: mail processes run as another user and must
    # be able to reach the directory, and pytest's base directory is private to its owner.
    directory = Path(tempfile.mkdtemp(prefix="cc-dovecot-"))
    directory.chmod(0o755)
    server = DovecotServer(directory)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def make_message(
    *,
    message_id: str | None = None,
    sender: str = "Pat Reply <pat@customer.example>",
    to: str = "outreach@example.com",
    subject: str = "Re: Your talk at Robotics Summit",
    body: str = "Thanks, let's talk next week.",
    in_reply_to: str | None = None,
    references: str | None = None,
) -> bytes:
    """A plain-text message as a mail server would hold it (CRLF line endings)."""
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {subject}"]
    lines.append("Date: Mon, 02 Mar 2026 09:30:00 +0000")
    if message_id is not None:
        lines.append(f"Message-ID: {message_id}")
    if in_reply_to is not None:
        lines.append(f"In-Reply-To: {in_reply_to}")
    if references is not None:
        lines.append(f"References: {references}")
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "", body, ""]
    return "\r\n".join(lines).encode("utf-8")


def workspace_with_mailbox(
    factory: sessionmaker[Session], slug: str, address: str = "outreach@example.com"
) -> tuple[uuid.UUID, uuid.UUID]:
    """A workspace and its default mailbox (what reply polling reads for); returns both ids."""
    with system_session(factory) as session:
        workspace = ws.create_workspace(session=session, slug=slug)
        mailbox = Mailbox(
            workspace_id=workspace.id, name="Default", from_address=address, is_default=True
        )
        session.add(mailbox)
        session.flush()
        return workspace.id, mailbox.id
