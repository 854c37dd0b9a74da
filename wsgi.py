"""gunicorn entry point: ``gunicorn wsgi:app``."""
from vidlib import create_app

app = create_app()
