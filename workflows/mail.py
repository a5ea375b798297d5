"""Sending mail over SMTP (``MAIL_*`` settings, read by ``workflows.settings``)."""
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid


@dataclass(frozen=True)
class MailSettings:
    server: str = "localhost"
    port: int = 25
    use_tls: bool = False
    use_ssl: bool = False
    username: str = ""
    password: str = ""
    default_sender: str = "qianyue@localhost"
    timeout: float = 10.0


class Mailer:
    def __init__(self, settings: MailSettings):
        self.settings = settings

    def send(self, to, subject, body):
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.settings.default_sender, to, subject
        message["Date"], message["Message-ID"] = formatdate(localtime=True), make_msgid(domain="qianyue")
        message.set_content(body)
        s = self.settings
        connect = smtplib.SMTP_SSL if s.use_ssl else smtplib.SMTP
        kwargs = {"context": ssl.create_default_context()} if s.use_ssl else {}
        with connect(s.server, s.port, timeout=s.timeout, **kwargs) as smtp:
            if s.use_tls:
                smtp.starttls(context=ssl.create_default_context())
            if s.username:
                smtp.login(s.username, s.password)
            smtp.send_message(message)
