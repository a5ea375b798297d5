"""Static files under URLs that name their content, so browsers keep them for a year instead of asking again.

Every ``url_for("static", filename=...)`` gets ``?v=`` and the first 16 hex digits of the file's SHA-256. A request
whose ``v`` is the file's current digest is answered with ``Cache-Control: private, max-age=31536000, immutable``
(private: the answer may carry the visitor's refreshed session cookie, which no shared cache may keep). A page linking
the modeler's bundle (1 MB for the DMN editor) and a dozen style sheets costs a revisit nothing, where every file was
revalidated on every page before. A file that changes gets a new URL with the next page; a URL naming another digest
(a page rendered by a node of another release) gets the current file with Flask's default revalidation, never a stale
year. Static files are public: they are served without the session lookups other requests make.
"""
import hashlib
import os
from threading import Lock

from flask import request
from werkzeug.security import safe_join

YEAR = 365 * 24 * 3600
VERSION_ARG = "v"


class ContentVersions:
    """The digest of each static file, computed once per content (a file rewritten in place, as in development,
    changes its size or modification time and is hashed again)."""

    def __init__(self, folder):
        self.folder, self._known, self._lock = folder, {}, Lock()

    def of(self, filename):
        """The file's digest, or None when ``filename`` names no file of the folder."""
        path = safe_join(self.folder, filename)
        if path is None or not os.path.isfile(path):
            return None
        stat = os.stat(path)
        stamp = (stat.st_mtime_ns, stat.st_size)
        known = self._known.get(filename)
        if known is None or known[0] != stamp:
            with open(path, "rb") as file:
                known = (stamp, hashlib.sha256(file.read()).hexdigest()[:16])
            with self._lock:
                self._known[filename] = known
        return known[1]


def init_app(app):
    versions = ContentVersions(app.static_folder)

    @app.url_defaults
    def name_the_content(endpoint, values):
        if endpoint == "static" and VERSION_ARG not in values:
            digest = versions.of(values.get("filename", ""))
            if digest is not None:
                values[VERSION_ARG] = digest

    @app.after_request
    def keep_named_content(response):
        if request.endpoint == "static" and response.status_code in (200, 304):
            given = request.args.get(VERSION_ARG)
            if given and given == versions.of(request.view_args.get("filename", "")):
                response.cache_control.no_cache = None
                response.cache_control.private = True
                response.cache_control.max_age = YEAR
                response.cache_control.immutable = True
        return response
