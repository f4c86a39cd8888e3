"""The scraper service (`coffee-runner serve`): what each roaster needs now (`loop.decide`),
the loop that acts on it, and the process's lifecycle (`run`: server thread, signals).

May import every layer below it (core, store, acquire, transform, ops, backfill, web);
imported only by `cli`.
"""
