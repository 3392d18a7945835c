"""`python -m config_sync_service.cli`: the same command line as `config-sync`."""

from config_sync_service.cli.app import main

main()
