"""`lfl db ...`: placeholder until the database module lands (issue 4)."""


def register(groups) -> None:
    parser = groups.add_parser("db", help="landscape database: init, info, export, import")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    del sub
