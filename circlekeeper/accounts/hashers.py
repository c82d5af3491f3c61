"""The password hasher: Django's PBKDF2 (same algorithm name, same 1,000,000 iterations, so every stored hash
still verifies), with each hash run inside one of the process's bounded turns (lib/password_checks.py)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.hashers import PBKDF2PasswordHasher

from circlekeeper.lib import password_checks


class BoundedPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    # verify(), harden_runtime() and make_password() all hash through encode().
    def encode(self, password: str, salt: str, iterations: int | None = None) -> Any:
        with password_checks.slot():
            return super().encode(password, salt, iterations)
