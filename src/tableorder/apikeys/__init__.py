"""API keys: staff give integrations (a POS, a kitchen display) their own credentials, with scopes."""
