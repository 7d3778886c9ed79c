"""Password hashing with argon2id (the library's default type)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()


def use_hasher(hasher: PasswordHasher) -> None:
    """Swap the hasher's cost parameters (tests use a cheap one; hashes record their own)."""
    global _hasher, _DUMMY_HASH
    _hasher = hasher
    _DUMMY_HASH = hasher.hash("not-a-real-password")


MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# Verifying against a fixed hash when the user does not exist keeps sign-in timing
# from telling an attacker which emails have accounts.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def burn_verification(password: str) -> None:
    verify_password(_DUMMY_HASH, password)
