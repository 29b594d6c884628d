"""The `vtrag` command line: parses options, calls the Service, prints. No business logic lives here.

One module per command group; this one assembles them.
"""

from __future__ import annotations

import typer

from api.cli.compact import index_app  # registers `index compact` too
from api.cli.eval import eval_app
from api.cli.mcp import mcp
from api.cli.model import model_app
from api.cli.pages import extract, similar
from api.cli.query import ask, search
from api.cli.reader import reader_app
from api.cli.serve import serve

app = typer.Typer(
    help="vtrag: vision-token RAG over your documents.", no_args_is_help=True, pretty_exceptions_enable=False
)
app.add_typer(index_app, name="index")
app.add_typer(eval_app, name="eval")
app.command("search")(search)
app.command("ask")(ask)
app.command("serve")(serve)
app.command("mcp")(mcp)
app.add_typer(model_app, name="model")
app.add_typer(reader_app, name="reader")
app.command("extract")(extract)
app.command("similar")(similar)


def main() -> None:
    app()
