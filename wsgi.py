"""Entry point for ``flask --app wsgi`` and WSGI servers."""
from webapp import create_app

app = create_app()
