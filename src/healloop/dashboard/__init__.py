"""The dashboard: server-rendered pages over the queue's service, served by ``healloop serve`` at ``/``.

``session.py`` signs people in (a cookie over a role token) and checks CSRF, ``i18n.py`` holds the page
text in English and Chinese, ``views.py`` shapes events for the templates, ``pages.py`` the routes,
``actions.py`` the buttons, ``live.py`` the server-sent events of the change feed.
"""
