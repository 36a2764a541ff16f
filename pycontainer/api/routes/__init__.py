"""One module per resource, each a ``routes`` table (app.Routes)."""
