"""The operator's tools over stored data: assess, verify, acknowledge (`checks`), backup,
restore, cleanup to quarantine and its undo, alerts to the webhook.

May import `core`, `store` and `transform`.
"""
