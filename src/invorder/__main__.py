"""`python -m invorder` runs the command line."""

from invorder.cli import main

main()
