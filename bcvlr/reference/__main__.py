"""python -m bcvlr.reference {compare,record} --authors-repo PATH [--authors-deps DIR]"""

from bcvlr.reference.cli import main

main()
