"""Staff authentication: argon2id passwords, access tokens (JWT HS256), rotated refresh tokens,
failed-login lockout and a per-address login rate limit."""
