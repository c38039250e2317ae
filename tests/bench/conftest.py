"""The benchmark is run by ``make bench``, never collected by pytest (it starts servers for minutes)."""
collect_ignore_glob = ["*.py"]
