"""Views across domains for operators: the figures (stats), the dashboard's data, reconciliation and its job."""
