"""``python -m argus_cli`` runs the same app as the ``argus-plugin`` console script."""

from argus_cli.main import app

app(prog_name="argus-plugin")
