"""Multi-user mode: accounts with roles, password hashing, sign-in sessions, report sharing."""
