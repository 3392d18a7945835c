"""The reproducible benchmark of config-sync (`make bench`): see bench/run.py and the README's Performance section."""
