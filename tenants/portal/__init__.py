"""The developer portal at /t/{tenant}/portal: a first-party app of each tenant."""
