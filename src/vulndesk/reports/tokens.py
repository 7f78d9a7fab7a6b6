"""Tracking tokens: the reporter's only key to their report. Only a SHA-256 hash is stored,
so a leaked database does not open any tracking page."""

import hashlib
import secrets


def tracking_token_new() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def tracking_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
