"""Views across domains for operators: the dashboard's data and reconciliation (and its job)."""
