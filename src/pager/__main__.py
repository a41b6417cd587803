from pager.entrypoints.cli import main

main()
