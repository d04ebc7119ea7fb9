"""One thin module per command group; cli.py loads them lazily."""
