"""The runner's vocabulary, without I/O to the database or the network: errors and exit
codes, the clock and days, the config models and their values, cron schedules, the rule
patterns shared with dbt, the HTTP exchange record, the log pipeline.

Imports nothing else from the runner; every other package may import it.
"""
