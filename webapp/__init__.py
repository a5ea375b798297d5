"""The Flask app: it translates HTTP to calls on the services in ``workflows``."""
from flask import Flask

from workflows.platform import Platform

from . import config as app_config


def create_app(config=None):
    app = Flask(__name__, instance_relative_config=False)
    app.config.update(app_config.load(config))
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.extensions["qianyue"] = Platform(app.config["DATABASE_URL"])

    from .api import bp as api_bp
    from .cli import register_cli

    app.register_blueprint(api_bp)
    register_cli(app)
    return app
