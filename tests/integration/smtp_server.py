"""A real SMTP server for the alert tests: aiosmtpd with STARTTLS required
and AUTH (PLAIN, LOGIN) required after it, run as a process of its own.

    python smtp_server.py --port P --cert CERT --key KEY --user U \
        --password PW --maildir DIR

Every accepted message is written to DIR as <n>.eml (written to a temporary
name first and renamed, so a reader never sees half a message), with the
envelope in X-Test-Mail-From / X-Test-Rcpt-To headers prepended and the
whether the session authenticated in X-Test-Authenticated. Prints "ready" once it listens.
"""

from __future__ import annotations

import argparse
import os
import signal
import ssl
import threading
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler:
    def __init__(self, maildir: Path):
        self.maildir = maildir
        self.lock = threading.Lock()
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.n += 1
            n = self.n
        head = (f"X-Test-Mail-From: {envelope.mail_from}\r\n"
                f"X-Test-Rcpt-To: {', '.join(envelope.rcpt_tos)}\r\n"
                f"X-Test-Authenticated: {'yes' if session.authenticated else 'no'}\r\n"
                f"X-Test-Tls: {'yes' if session.ssl else 'no'}\r\n").encode()
        tmp = self.maildir / f".{n}.tmp"
        tmp.write_bytes(head + envelope.original_content)
        os.replace(tmp, self.maildir / f"{n:06d}.eml")
        return "250 Message accepted for delivery"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--maildir", required=True)
    args = ap.parse_args()
    maildir = Path(args.maildir)
    maildir.mkdir(parents=True, exist_ok=True)
    # Numbering goes on after a restart, so no message overwrites another.
    handler = Handler(maildir)
    handler.n = len(list(maildir.glob("*.eml")))

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login.decode() == args.user
              and auth_data.password.decode() == args.password)
        return AuthResult(success=ok, handled=False)

    controller = Controller(
        handler, hostname=args.host, port=args.port,
        tls_context=ctx, require_starttls=True,
        auth_required=True, auth_require_tls=True, authenticator=authenticator,
        server_hostname="127.0.0.1", ready_timeout=10,
    )
    controller.start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
