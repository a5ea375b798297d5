"""What a serving process does before its first request, so that no visitor waits for it."""


def compile_templates(app):
    """Compile every page template now. A fresh process (after a deploy, and a gunicorn worker every 5,000 requests)
    would otherwise compile each on first use, in that request: about 0.6 s of CPU for all of them, 0.1-0.3 s on
    the first contract or signing page a process shows."""
    for name in app.jinja_env.list_templates(extensions=["html"]):
        app.jinja_env.get_template(name)
