"""The catalog: products, their stock, and the stock ledger."""
