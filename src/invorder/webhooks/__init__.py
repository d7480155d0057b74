"""Webhook endpoints, their signed deliveries, and the guard on the addresses they reach."""
