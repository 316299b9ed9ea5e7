"""Races and floods: several requests from one browser at once, and many browsers at once.

Every test here runs over real HTTP against a running app and the local tenant, on the embedded
session store and on Redis, and repeats its scenario 30 times with no failure allowed:

- test_sign_out_race: a page still loading during sign-out cannot bring the session back;
- test_step_up_race: an MFA step-up survives the favicon and other pages loading beside its callback;
- test_parallel_sign_ins: two tabs signing in at once both succeed; a forged callback harms no real sign-in;
- test_abandoned_edit: an edit left behind with its MFA is never applied later;
- test_anonymous_flood: 4,000 sign-in starts store nothing (memory-capped Redis, nobody evicted);
- test_rate_limits, test_csrf: the sign-in rate limit, the CSRF token's rotation and lifetime (once each).

`browser.py` is the client: one cookie jar, several connections released together by a barrier,
the tenant's callback held back until the test sends it.
"""
