"""What the web app and the mfa-app API both need, with no web framework in it.

- `discovery`: the provider's OpenID Connect metadata, fetched and cached per process;
- `jwks`: the provider's signing keys, cached, refreshed on a schedule and checked before any token is trusted;
- `jwt_verification`: the JWT checks every token goes through (ID token or access token alike);
- `customer_profile`: which profile properties a customer may change, their limits, and which
  changes a submitted set of values makes.

It imports nothing from `ciam_webapp`, `ciam_api` or `ciam_emulator`; they import from here.
"""
