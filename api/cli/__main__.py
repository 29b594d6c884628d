"""`python -m api.cli`: the `vtrag` command."""

from api.cli import main

main()
