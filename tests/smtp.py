"""A real SMTP server inside the test process (aiosmtpd), for the `smtp_server` fixture."""

import socket
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


def free_port() -> int:
    """A port nothing listens on (the OS's pick; closed again at once)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class SmtpServer:
    """What the server received (`messages`, parsed), and recipients it refuses."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []  # the envelope's RCPT TO, per message
        self._refused: set[str] = set()
        self._controller = Controller(self, hostname=HOST, port=free_port())
        self.host = HOST
        self.port = self._controller.port

    def refuse(self, address: str) -> None:
        """Answer 550 at RCPT TO for this address until accept() is called."""
        self._refused.add(address.lower())

    def accept(self, address: str) -> None:
        self._refused.discard(address.lower())

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    # aiosmtpd handler hooks, run in the controller's thread.

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if address.lower() in self._refused:
            return "550 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        # Line endings as a mail client shows them (CRLF is only the wire form).
        raw = (envelope.original_content or envelope.content).replace(b"\r\n", b"\n")
        self.messages.append(BytesParser(policy=policy.default).parsebytes(raw))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"
