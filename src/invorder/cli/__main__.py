"""`python -m invorder.cli`: the `invorder` command."""

from invorder.cli import main

main()
