"""Sending mail over SMTP (settings in Flask-Mail's names, from the environment)."""
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

    @classmethod
    def from_config(cls, config):
        flag = lambda name: str(config.get(name, "")).lower() in ("1", "true", "yes")  # noqa: E731
        return cls(server=config.get("MAIL_SERVER") or "localhost", port=int(config.get("MAIL_PORT") or 25),
                   use_tls=flag("MAIL_USE_TLS"), use_ssl=flag("MAIL_USE_SSL"), username=config.get("MAIL_USERNAME") or "",
                   password=config.get("MAIL_PASSWORD") or "", default_sender=config.get("MAIL_DEFAULT_SENDER") or cls.default_sender)


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
