"""KamDash, served: ``panel serve dashboard/app.py`` (embedded defaults: shipped model, simulated live
feed, SQLite catalog; ``KAMDASH_*`` environment variables configure a control room, see README)."""

from dashboard.layout import create_app

create_app().servable(title="KamDash")
