"""What the web app and the mfa-app API both need, with no web framework in it.

- `discovery`: the provider's OpenID Connect metadata, fetched and cached per process;
- `jwks`: the provider's signing keys, cached, refreshed on a schedule and checked before any token is trusted;
- `jwt_verification`: the JWT checks every token goes through (ID token or access token alike);
- `customer_profile`: which profile properties a customer may change, their limits, and which
  changes a submitted set of values makes;
- `client_certificate`: the certificate credential (a PEM file with its key), checked at start-up;
- `environment`: the settings reader (placeholders, missing values, URLs, numbers, the credential)
  and `ConfigError`, each message naming its variable;
- `graph`: Microsoft Graph's `/me` client, its typed errors and the claims challenge;
- `outbound`: the HTTP session (timeouts, one TLS context, the environment read once, bounded
  retries, bulkheads);
- `json_logs`: the JSON log line and the request id; each app adds its request's fields.

It imports nothing from `ciam_webapp`, `ciam_api` or `ciam_emulator`; they import from here.
"""
