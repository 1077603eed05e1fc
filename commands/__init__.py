"""The command line: one thin module per subcommand (parse flags, read stdin, call dmc)."""
