"""HTTP plumbing shared by the API and the payment simulator: problem details, strict bodies."""
