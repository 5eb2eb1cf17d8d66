"""The mailops command line: thin Typer commands over the `mailops` engine."""
