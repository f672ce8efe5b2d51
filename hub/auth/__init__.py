"""Who is calling: passwords, login tokens (Bearer or cookie + CSRF), roles and permissions."""
