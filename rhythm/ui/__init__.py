"""The dashboard, ``rhythm ui`` (docs/ui.md): a server-rendered web app over the runtime.

This package owns the web side of Rhythm: the Starlette application (:mod:`.app`), its
security layer - token, CSRF, read-only, Host check (:mod:`.security`) -, the reads and
actions it runs through the runtime's named SQL and operations (:mod:`.store`), the typed
view models the Jinja2 templates read (:mod:`.views`), and the templates and vendored
static assets (htmx) that ship in the wheel. It needs the ``rhythm[ui]`` extra
(starlette, uvicorn, python-multipart); nothing outside it imports it, so a worker never
loads the web stack.
"""
