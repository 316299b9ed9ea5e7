import json

import msal
from cryptography.fernet import Fernet

from ciam_webapp.token_cache import TokenCacheCodec, merge_caches, merge_changes


def _cache_with(secret: str) -> msal.SerializableTokenCache:
    cache = msal.SerializableTokenCache()
    cache.deserialize(json.dumps({"RefreshToken": {"k": {"secret": secret, "credential_type": "RefreshToken"}}}))
    return cache


def test_sealed_cache_hides_tokens_and_round_trips():
    codec = TokenCacheCodec((), secret_key="k" * 40)
    sealed = codec.seal(_cache_with("very-secret-refresh-token"))
    assert b"very-secret-refresh-token" not in sealed
    assert "very-secret-refresh-token" in codec.load(sealed).serialize()


def test_rotation_old_key_still_decrypts_new_key_encrypts():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed_with_old = TokenCacheCodec((old,), secret_key="k" * 40).seal(_cache_with("rt-1"))
    rotated = TokenCacheCodec((new, old), secret_key="k" * 40)
    assert "rt-1" in rotated.load(sealed_with_old).serialize()
    resealed = rotated.seal(rotated.load(sealed_with_old))
    assert "rt-1" in TokenCacheCodec((new,), secret_key="k" * 40).load(resealed).serialize()


def test_unreadable_cache_starts_empty():
    codec = TokenCacheCodec((), secret_key="k" * 40)
    assert codec.load(b"garbage").serialize() in ("{}", "")


def test_merge_keeps_both_and_newer_wins():
    kept = _cache_with("old")
    newer = msal.SerializableTokenCache()
    newer.deserialize(json.dumps({"RefreshToken": {"k": {"secret": "new"}, "k2": {"secret": "other"}}}))
    merged = json.loads(merge_caches(kept, newer).serialize())
    assert merged["RefreshToken"]["k"]["secret"] == "new"
    assert merged["RefreshToken"]["k2"]["secret"] == "other"


def _cache(data: dict) -> msal.SerializableTokenCache:
    cache = msal.SerializableTokenCache()
    cache.deserialize(json.dumps(data))
    return cache


def test_a_three_way_merge_keeps_what_each_request_changed_and_nothing_stale():
    """A step-up callback (adds the MFA token, carries the old Graph token) saving after a page that
    refreshed the Graph token must not put the old Graph token back (and the other way round)."""
    base = _cache({"AccessToken": {"graph": {"secret": "graph-1"}}, "RefreshToken": {"rt": {"secret": "rt-1"}}})
    page_refreshed = _cache(
        {"AccessToken": {"graph": {"secret": "graph-2"}}, "RefreshToken": {"rt": {"secret": "rt-2"}}}
    )
    step_up = _cache(
        {
            "AccessToken": {"graph": {"secret": "graph-1"}, "mfa": {"secret": "mfa-1"}},
            "RefreshToken": {"rt": {"secret": "rt-3"}},
        }
    )
    merged = json.loads(merge_changes(base, page_refreshed, step_up).serialize())
    assert merged["AccessToken"] == {"graph": {"secret": "graph-2"}, "mfa": {"secret": "mfa-1"}}
    assert merged["RefreshToken"] == {"rt": {"secret": "rt-3"}}, "both changed it: the later save's stands"
    merged = json.loads(merge_changes(base, step_up, page_refreshed).serialize())  # the other order
    assert merged["AccessToken"] == {"graph": {"secret": "graph-2"}, "mfa": {"secret": "mfa-1"}}


def test_a_three_way_merge_applies_a_removal():
    base = _cache({"AccessToken": {"a": {"secret": "1"}, "b": {"secret": "2"}}})
    theirs = _cache({"AccessToken": {"a": {"secret": "1"}, "b": {"secret": "2"}, "c": {"secret": "3"}}})
    ours = _cache({"AccessToken": {"a": {"secret": "1"}}})
    assert json.loads(merge_changes(base, theirs, ours).serialize())["AccessToken"] == {
        "a": {"secret": "1"},
        "c": {"secret": "3"},
    }
