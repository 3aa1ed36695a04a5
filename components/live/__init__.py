"""What moves on the page during a call, drawn by the browser: the feed it reads
(``feed.py``), the route that serves it (``route.py``) and the component that draws it and
asks for reruns (``view.py`` with its ``view.js`` and ``view.css``)."""
