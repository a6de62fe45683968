"""`python -m bpfdump` = the bpfdump command."""
from .cli import main

main()
